package bert

import (
	"context"
	"fmt"
	"math"

	"github.com/wrxlabs/wrx/backend"
)

// Pass carries the activations of one sequence through the encoder. It is
// the low-level API that lets a caller fold shards in one at a time, as they
// arrive from storage:
//
//	p := NewPass(be, cfg, len(ids))
//	p.Embed(ctx, &m.Embeddings, ids, typeIDs)
//	for each layer:
//		p.BeginLayer()
//		for each present shard: p.AddAttention(shard)
//		p.EndAttention(&layer.Resident)
//		for each present shard: p.AddFFN(shard)
//		p.EndLayer(&layer.Resident)
//	logits := p.Logits(&m.Head)
//
// A shard that is never added contributes zero. A Pass is not safe for
// concurrent use; its buffers are sized once, so folding shards allocates
// nothing.
type Pass struct {
	be  backend.Backend
	cfg *Config
	seq int

	x   []float32 // seq×hidden: the current hidden state
	acc []float32 // seq×hidden: the half-layer output being summed

	q, k, v []float32 // seq×headDim
	vt      []float32 // headDim×seq: V transposed so P·V is an A·Bᵀ product
	ctxh    []float32 // seq×headDim
	scores  []float32 // seq×seq
	inter   []float32 // seq×ffnSlice

	// Buffers of the fused path, allocated on first use.
	qkv, ctxAll, interAll, vtAll []float32
	headV                        backend.Packed // one head's Vᵀ in vtAll, when packed

	int8 bool // multiply int8 shards with integer kernels (UseInt8)
	int4 bool // multiply 4-bit shards with integer kernels (UseInt4)

	// xq is the hidden state quantized once for the integer products of
	// a layer half (every head's Q, K, V, every shard's FFN up), its
	// values in xqBuf, part of buf; xqSet says that it stands for the
	// current x (SetRows), which the first integer product then
	// quantizes. It is allocated by that product, apart from the Pass:
	// the products' interface calls make it escape, and a Pass inside it
	// would escape with it (the executor's, made per request, stays on
	// the stack).
	xq    *backend.Int8Activations
	xqBuf []float32
	xqSet bool

	buf []float32 // backs the buffers above the fused path's
}

// UseInt8 makes AddAttention and AddFFN multiply shards held as int8 (an
// 8-bit store's, backend.Int8Matrix) with the backend's integer kernels,
// the activations quantized per token on the fly (backend.MatMulInt8),
// instead of expanding the weights to float32. On a backend that takes
// activations quantized once (backend.ActivationQuantizer), the hidden
// state is quantized once per layer half for the Q, K, V projections of
// every head and the FFN up projection of every shard, with the same
// results. It costs accuracy only
// the activations' rounding (see backend.Int8Multiplier); layers fused by
// FuseInt8 always run on the integer kernels.
func (p *Pass) UseInt8(on bool) { p.int8 = on }

// UseInt4 makes AddAttention and AddFFN multiply 4-bit dictionary shards
// (backend.Int4Matrix) with the backend's integer kernels
// (backend.MatMulInt4), the activations quantized per token, instead of
// expanding the weights to float32. UseInt8 does it too.
func (p *Pass) UseInt4(on bool) { p.int4 = on }

// matMulHidden computes out = x·wᵀ for the hidden state x and a shard's
// matrix w, with integer kernels under UseInt8 and UseInt4, which then
// share one quantization of x (see xq).
func (p *Pass) matMulHidden(out []float32, w backend.Matrix) {
	if !p.int8 && !p.int4 {
		backend.MatMul(p.be, out, p.x, p.seq, w, false)
		return
	}
	if !p.xqSet {
		if p.xq == nil {
			p.xq = new(backend.Int8Activations)
			p.placeXQ()
		}
		p.xq.SetRows(p.x, p.seq, p.cfg.Hidden)
		p.xqSet = true
	}
	if p.int8 {
		backend.MatMulInt8Quantized(p.be, out, p.xq, w, false)
	} else {
		backend.MatMulInt4Quantized(p.be, out, p.xq, w, false)
	}
}

// placeXQ puts xq's quantized values in xqBuf.
func (p *Pass) placeXQ() {
	if err := p.xq.SetBuffer(p.xqBuf, p.seq, p.cfg.Hidden); err != nil {
		// Only a hidden size over backend.MaxInt8K fails, which the
		// integer kernels refuse anyway; xq must not keep views of
		// buffers laid out for another length.
		*p.xq = backend.Int8Activations{}
	}
}

// hiddenChanged marks the quantized hidden state stale: every change of
// x calls it.
func (p *Pass) hiddenChanged() { p.xqSet = false }

// matMul multiplies a shard's matrix, with integer kernels under UseInt8
// and UseInt4.
func (p *Pass) matMul(out, a []float32, w backend.Matrix, accumulate bool) {
	switch {
	case p.int8:
		backend.MatMulInt8(p.be, out, a, p.seq, w, accumulate)
	case p.int4:
		backend.MatMulInt4(p.be, out, a, p.seq, w, accumulate)
	default:
		backend.MatMul(p.be, out, a, p.seq, w, accumulate)
	}
}

// NewPass returns a Pass for a sequence of seqLen tokens.
func NewPass(be backend.Backend, cfg *Config, seqLen int) *Pass {
	return NewPassIn(be, cfg, seqLen, nil)
}

// PassSize is how many float32 values the activations of a Pass of seqLen
// tokens take, the hidden state's 8-bit copy for integer products
// included (backend.Int8ActivationsSize).
func PassSize(cfg *Config, seqLen int) int {
	h, d, f := cfg.Hidden, cfg.HeadDim(), cfg.FFNSlice()
	return 2*seqLen*h + 5*seqLen*d + seqLen*seqLen + seqLen*f + backend.Int8ActivationsSize(seqLen, h)
}

// NewPassIn is NewPass with its activations in buf when buf holds at least
// PassSize(cfg, seqLen) values (else in a new buffer): callers that run
// many requests reuse one buffer instead of allocating per request. The
// Pass owns buf until it is no longer used.
func NewPassIn(be backend.Backend, cfg *Config, seqLen int, buf []float32) *Pass {
	p := &Pass{be: be, cfg: cfg, buf: buf}
	p.resize(seqLen)
	return p
}

// resize sizes p's buffers for seqLen tokens, reusing them when they are
// large enough.
func (p *Pass) resize(seqLen int) {
	h, d, f := p.cfg.Hidden, p.cfg.HeadDim(), p.cfg.FFNSlice()
	need := PassSize(p.cfg, seqLen)
	if cap(p.buf) < need {
		p.buf = make([]float32, need)
	}
	buf := p.buf[:need]
	take := func(n int) []float32 {
		s := buf[:n:n]
		buf = buf[n:]
		return s
	}
	p.seq = seqLen
	p.x, p.acc = take(seqLen*h), take(seqLen*h)
	p.q, p.k, p.v = take(seqLen*d), take(seqLen*d), take(seqLen*d)
	p.vt, p.ctxh = take(seqLen*d), take(seqLen*d)
	p.scores, p.inter = take(seqLen*seqLen), take(seqLen*f)
	p.xqBuf = take(backend.Int8ActivationsSize(seqLen, h))
	if p.xq != nil {
		p.placeXQ()
	}
	p.hiddenChanged()
}

// SeqLen is the number of tokens the Pass was made for.
func (p *Pass) SeqLen() int { return p.seq }

// Hidden returns the current hidden state, seqLen×Hidden. It is the Pass's
// own buffer: callers may copy it (to cache a layer's input) but must not
// keep it across calls.
func (p *Pass) Hidden() []float32 { return p.x }

// SetHidden replaces the hidden state, e.g. with a cached layer input.
func (p *Pass) SetHidden(x []float32) error {
	if len(x) != len(p.x) {
		return fmt.Errorf("bert: hidden state has %d values, want %d (seq %d × hidden %d)", len(x), len(p.x), p.seq, p.cfg.Hidden)
	}
	copy(p.x, x)
	p.hiddenChanged()
	return nil
}

// Embed fills the hidden state with the embeddings of ids: word + position
// (+ token type for BERT), then LayerNorm. typeIDs may be nil (all zero).
func (p *Pass) Embed(ctx context.Context, e *Embeddings, ids, typeIDs []int) error {
	c := p.cfg
	if len(ids) != p.seq {
		return fmt.Errorf("bert: %d token ids for a pass of %d tokens", len(ids), p.seq)
	}
	if p.seq > c.MaxPosition {
		return fmt.Errorf("bert: sequence of %d tokens exceeds max_position_embeddings %d", p.seq, c.MaxPosition)
	}
	if p.seq*c.Hidden > len(e.Position) {
		return fmt.Errorf("bert: sequence of %d tokens exceeds the %d position embeddings held", p.seq, len(e.Position)/c.Hidden)
	}
	if typeIDs != nil && len(typeIDs) != p.seq {
		return fmt.Errorf("bert: %d token type ids for %d tokens", len(typeIDs), p.seq)
	}
	p.hiddenChanged()
	if err := e.Word.Rows(ctx, ids, p.x); err != nil {
		return fmt.Errorf("bert: word embeddings: %w", err)
	}
	h := c.Hidden
	for i := range p.seq {
		row := p.x[i*h : (i+1)*h]
		pos := e.Position[i*h : (i+1)*h]
		for j := range row {
			row[j] += pos[j]
		}
		if e.TokenType == nil {
			continue
		}
		t := 0
		if typeIDs != nil {
			t = typeIDs[i]
		}
		if t < 0 || t*h >= len(e.TokenType) {
			return fmt.Errorf("bert: token type id %d at position %d out of range [0,%d)", t, i, len(e.TokenType)/h)
		}
		tt := e.TokenType[t*h : (t+1)*h]
		for j := range row {
			row[j] += tt[j]
		}
	}
	p.be.LayerNorm(p.x, e.NormWeight, e.NormBias, p.seq, h, float32(c.LayerNormEps))
	return nil
}

// BeginLayer starts a layer: the attention half sums onto the residual.
func (p *Pass) BeginLayer() {
	// EndLayer marked x already; marking it again covers a caller that
	// wrote to Hidden's slice in between, at no cost.
	p.hiddenChanged()
	copy(p.acc, p.x)
}

// AddAttention adds one head's attention output, projected through its
// columns of the output projection, to the layer being built.
func (p *Pass) AddAttention(s *AttentionShard) {
	be, n, d := p.be, p.seq, p.cfg.HeadDim()
	p.matMulHidden(p.q, s.Query)
	be.AddBias(p.q, s.QueryBias, n, d)
	p.matMulHidden(p.k, s.Key)
	be.AddBias(p.k, s.KeyBias, n, d)
	p.matMulHidden(p.v, s.Value)
	be.AddBias(p.v, s.ValueBias, n, d)

	be.MatMulT(p.scores, p.q, p.k, n, d, n, false)
	scale := float32(1 / math.Sqrt(float64(d)))
	for i := range p.scores {
		p.scores[i] *= scale
	}
	be.Softmax(p.scores, n, n)
	for i := range n {
		for j := range d {
			p.vt[j*n+i] = p.v[i*d+j]
		}
	}
	be.MatMulT(p.ctxh, p.scores, p.vt, n, n, d, false)
	p.matMul(p.acc, p.ctxh, s.Output, true)
}

// EndAttention closes the attention half: output bias, then LayerNorm. The
// result is the FFN half's input and residual.
func (p *Pass) EndAttention(r *LayerResident) {
	h := p.cfg.Hidden
	p.be.AddBias(p.acc, r.AttnOutputBias, p.seq, h)
	p.be.LayerNorm(p.acc, r.AttnNormWeight, r.AttnNormBias, p.seq, h, float32(p.cfg.LayerNormEps))
	p.x, p.acc = p.acc, p.x
	p.hiddenChanged()
	copy(p.acc, p.x)
}

// AddFFN adds one shard's slice of the feed-forward network.
func (p *Pass) AddFFN(s *FFNShard) {
	n, f := p.seq, p.cfg.FFNSlice()
	p.matMulHidden(p.inter, s.Up)
	p.be.AddBias(p.inter, s.UpBias, n, f)
	p.be.GELU(p.inter)
	p.matMul(p.acc, p.inter, s.Down, true)
}

// EndLayer closes the FFN half: output bias, then LayerNorm, giving the
// next layer's input.
func (p *Pass) EndLayer(r *LayerResident) {
	h := p.cfg.Hidden
	p.be.AddBias(p.acc, r.FFNOutputBias, p.seq, h)
	p.be.LayerNorm(p.acc, r.FFNNormWeight, r.FFNNormBias, p.seq, h, float32(p.cfg.LayerNormEps))
	p.x, p.acc = p.acc, p.x
	p.hiddenChanged()
}

// RunLayer runs a whole layer with the shards it holds; nil shards are
// skipped. A layer prepared by Model.Fuse runs as a few large products.
func (p *Pass) RunLayer(l *Layer) {
	if l.fused != nil {
		p.runFused(l)
		return
	}
	p.BeginLayer()
	for _, s := range l.Attention {
		if s != nil {
			p.AddAttention(s)
		}
	}
	p.EndAttention(&l.Resident)
	for _, s := range l.FFN {
		if s != nil {
			p.AddFFN(s)
		}
	}
	p.EndLayer(&l.Resident)
}

// Logits runs the classification head on the first token ([CLS]) and
// returns one logit per label, in a new slice the caller keeps. It uses
// the half-layer buffer as scratch, so it belongs after EndLayer (a next
// BeginLayer refills that buffer).
func (p *Pass) Logits(h *Head) []float32 {
	c := p.cfg
	// The pooled hidden row: every request needs one, and the buffer that
	// sums a half-layer holds nothing between layers.
	hid := p.acc[:c.Hidden]
	p.be.MatMulT(hid, p.x[:c.Hidden], h.Dense.Data, 1, c.Hidden, c.Hidden, false)
	p.be.AddBias(hid, h.DenseBias, 1, c.Hidden)
	if c.ModelType == TypeDistilBERT {
		p.be.ReLU(hid)
	} else {
		p.be.Tanh(hid)
	}
	logits := make([]float32, h.Classifier.N)
	p.be.MatMulT(logits, hid, h.Classifier.Data, 1, c.Hidden, h.Classifier.N, false)
	p.be.AddBias(logits, h.ClassifierBias, 1, h.Classifier.N)
	return logits
}

// Forward runs the whole model on one sequence and returns its logits.
// Absent shards contribute zero. It checks ctx between layers.
func (m *Model) Forward(ctx context.Context, be backend.Backend, ids, typeIDs []int) ([]float32, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("bert: forward: no tokens")
	}
	return m.ForwardWith(ctx, NewPass(be, m.Config, len(ids)), ids, typeIDs)
}

// ForwardWith is Forward on the backend and buffers of p, a Pass made by
// NewPass for this model's Config with any sequence length: it is resized
// for ids, reusing its buffers where they are large enough, so a caller
// that keeps Passes (one per goroutine, e.g. in a sync.Pool) allocates
// almost nothing per request. p's UseInt8 setting applies.
func (m *Model) ForwardWith(ctx context.Context, p *Pass, ids, typeIDs []int) ([]float32, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("bert: forward: no tokens")
	}
	if p.cfg != m.Config {
		return nil, fmt.Errorf("bert: forward: the pass was made for another model's config")
	}
	p.resize(len(ids))
	if err := p.Embed(ctx, &m.Embeddings, ids, typeIDs); err != nil {
		return nil, err
	}
	for i := range m.Layers {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("bert: forward stopped before layer %d: %w", i, err)
		}
		p.RunLayer(&m.Layers[i])
	}
	return p.Logits(&m.Head), nil
}

// Softmax turns logits into probabilities, computed in float64.
func Softmax(logits []float32) []float32 {
	maxv := math.Inf(-1)
	for _, v := range logits {
		maxv = math.Max(maxv, float64(v))
	}
	var sum float64
	out := make([]float32, len(logits))
	for _, v := range logits {
		sum += math.Exp(float64(v) - maxv)
	}
	for i, v := range logits {
		out[i] = float32(math.Exp(float64(v)-maxv) / sum)
	}
	return out
}
