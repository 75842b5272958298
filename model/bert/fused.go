package bert

import (
	"fmt"
	"math"

	"github.com/wrxlabs/wrx/backend"
)

// fusedLayer is a whole layer's shards concatenated into the dense
// matrices Hugging Face stores, so that a layer held in memory with every
// shard runs as a few large matrix products instead of eight small ones per
// head. Each output element is the same dot product either way; only the
// sums over heads (output and down projections) are added in another order.
//
// The fused matrices are all *backend.Dense (Fuse; *backend.Packed after
// Model.Pack), all *backend.Int8
// (FuseInt8) or all *backend.Int4 (FuseInt4).
type fusedLayer struct {
	qkv     backend.Matrix // 3·Hidden × Hidden: every head's Q rows, then K, then V
	qkvBias []float32
	out     backend.Matrix // Hidden × Hidden
	up      backend.Matrix // Intermediate × Hidden
	upBias  []float32
	down    backend.Matrix // Hidden × Intermediate
	// qScaled: the query rows of qkv and their biases are multiplied by
	// 1/√HeadDim, the attention's score scale, so the scores need no
	// scaling.
	qScaled bool
}

// Fuse joins the shards of every layer whose shards are all present as
// float32 into a layer's dense matrices, and releases the shards: a fused
// layer always runs whole (see Pass.RunLayer), which is what a model held in
// memory wants. Layers with absent or encoded shards are left as they are.
func (m *Model) Fuse() error {
	for i := range m.Layers {
		if err := m.Layers[i].fuse(m.Config); err != nil {
			return fmt.Errorf("bert: fuse layer %d: %w", i, err)
		}
	}
	return nil
}

func (l *Layer) fuse(c *Config) error {
	if l.fused != nil {
		return nil
	}
	M := c.Heads
	if len(l.Attention) != M || len(l.FFN) != M {
		return nil
	}
	dense := func(m backend.Matrix) *backend.Dense {
		if dm, ok := m.(*backend.Dense); ok {
			return dm
		}
		return nil
	}
	for h := range M {
		a, ff := l.Attention[h], l.FFN[h]
		if a == nil || ff == nil {
			return nil
		}
		for _, m := range []backend.Matrix{a.Query, a.Key, a.Value, a.Output, ff.Up, ff.Down} {
			if dense(m) == nil {
				return nil // encoded shards run through the shard path
			}
		}
	}
	qkv, out, up, down := fusedDense(l, c)
	fl := &fusedLayer{qkv: qkv, out: out, up: up, down: down, qScaled: true}
	fl.qkvBias, fl.upBias = fusedBiases(l, c)
	s := scoreScale(c)
	for i := range qkv.Data[:c.Hidden*c.Hidden] {
		qkv.Data[i] *= s
	}
	for i := range fl.qkvBias[:c.Hidden] {
		fl.qkvBias[i] *= s
	}
	l.fused = fl
	clear(l.Attention)
	clear(l.FFN)
	return nil
}

// Pack puts the float32 matrices of every layer fused by Fuse in the
// panel layout of backend.Packed, in place (a matrix whose rows are a
// multiple of backend.PackedPanel, as BERT's are, is not copied), when b
// multiplies packed matrices faster than dense ones (a
// backend.PackedMultiplier whose PacksFloat32 is true); otherwise it does
// nothing. It reports whether it packed. Results stay within float32
// rounding of the dense product's: the kernels sum in another order.
func (m *Model) Pack(b backend.Backend) bool {
	if pm, ok := b.(backend.PackedMultiplier); !ok || !pm.PacksFloat32() {
		return false
	}
	for i := range m.Layers {
		fl := m.Layers[i].fused
		if fl == nil {
			continue
		}
		for _, w := range []*backend.Matrix{&fl.qkv, &fl.out, &fl.up, &fl.down} {
			if d, ok := (*w).(*backend.Dense); ok {
				*w = backend.Pack(d)
			}
		}
	}
	return true
}

// fusedDense joins the shards of a complete layer into its four dense
// matrices, decoding encoded shards.
func fusedDense(l *Layer, c *Config) (qkv, out, up, down *backend.Dense) {
	H, d, f := c.Hidden, c.HeadDim(), c.FFNSlice()
	qkv = &backend.Dense{N: 3 * H, K: H, Data: make([]float32, 3*H*H)}
	out = &backend.Dense{N: H, K: H, Data: make([]float32, H*H)}
	up = &backend.Dense{N: c.Intermediate, K: H, Data: make([]float32, c.Intermediate*H)}
	down = &backend.Dense{N: H, K: c.Intermediate, Data: make([]float32, H*c.Intermediate)}
	o := make([]float32, H*max(d, f))
	for h := range c.Heads {
		a, ff := l.Attention[h], l.FFN[h]
		for part, src := range []backend.Matrix{a.Query, a.Key, a.Value} {
			row := part*H + h*d
			src.DecodeRows(qkv.Data[row*H:(row+d)*H], 0, d)
		}
		a.Output.DecodeRows(o[:H*d], 0, H)
		for r := range H {
			copy(out.Data[r*H+h*d:r*H+(h+1)*d], o[r*d:(r+1)*d])
		}
		ff.Up.DecodeRows(up.Data[h*f*H:(h+1)*f*H], 0, f)
		ff.Down.DecodeRows(o[:H*f], 0, H)
		for r := range H {
			copy(down.Data[r*c.Intermediate+h*f:r*c.Intermediate+(h+1)*f], o[r*f:(r+1)*f])
		}
	}
	return qkv, out, up, down
}

// fusedBiases joins the shards' Q, K, V and FFN up biases.
func fusedBiases(l *Layer, c *Config) (qkvBias, upBias []float32) {
	H, d, f := c.Hidden, c.HeadDim(), c.FFNSlice()
	qkvBias, upBias = make([]float32, 3*H), make([]float32, c.Intermediate)
	for h := range c.Heads {
		a, ff := l.Attention[h], l.FFN[h]
		copy(qkvBias[h*d:], a.QueryBias)
		copy(qkvBias[H+h*d:], a.KeyBias)
		copy(qkvBias[2*H+h*d:], a.ValueBias)
		copy(upBias[h*f:], ff.UpBias)
	}
	return qkvBias, upBias
}

// scoreScale is the attention's score scale 1/√HeadDim, which fused layers
// fold into their query projection.
func scoreScale(c *Config) float32 { return float32(1 / math.Sqrt(float64(c.HeadDim()))) }

// FuseInt8 is Fuse for integer kernels: it joins the shards of every layer
// whose shards are all present, whatever their encoding, and quantizes the
// joined matrices to int8 with one scale per output (backend.QuantizeInt8),
// so that the layer runs on the backend's integer kernels
// (backend.Int8Multiplier) and holds one byte per weight. Shards held as
// int8 (an 8-bit store) keep their integers in the Q, K, V and FFN up
// projections, whose rows are the shards' rows (requantizing an int8 row
// gives back its integers, and its scale within a float32 rounding); the
// output and FFN down projections join every head's columns of a row,
// which had a scale each, under one scale, so they are quantized again
// from the shards' values. Layers already fused are left as they are.
func (m *Model) FuseInt8() error {
	for i := range m.Layers {
		if err := m.Layers[i].fuseInt8(m.Config); err != nil {
			return fmt.Errorf("bert: fuse layer %d to int8: %w", i, err)
		}
	}
	return nil
}

func (l *Layer) fuseInt8(c *Config) error {
	if l.fused != nil {
		return nil
	}
	if len(l.Attention) != c.Heads || len(l.FFN) != c.Heads {
		return nil
	}
	for h := range c.Heads {
		if l.Attention[h] == nil || l.FFN[h] == nil {
			return nil
		}
	}
	qkv, out, up, down := fusedDense(l, c)
	fl := &fusedLayer{qScaled: true}
	fl.qkvBias, fl.upBias = fusedBiases(l, c)
	for _, mm := range []struct {
		dst *backend.Matrix
		src *backend.Dense
	}{{&fl.qkv, qkv}, {&fl.out, out}, {&fl.up, up}, {&fl.down, down}} {
		q, err := backend.QuantizeInt8(mm.src.Data, mm.src.N, mm.src.K)
		if err != nil {
			return err
		}
		*mm.dst = q
	}
	// The score scale goes into the queries' row scales: the integers
	// stay those of the unscaled weights.
	s := scoreScale(c)
	q := fl.qkv.(*backend.Int8)
	for j := range c.Hidden {
		q.Scale[j] *= s
	}
	for i := range fl.qkvBias[:c.Hidden] {
		fl.qkvBias[i] *= s
	}
	l.fused = fl
	clear(l.Attention)
	clear(l.FFN)
	return nil
}

// runFused runs a fused layer: the same computation as folding every shard.
func (p *Pass) runFused(l *Layer) {
	be, n, c := p.be, p.seq, p.cfg
	H := c.Hidden
	fl := l.fused
	if len(p.qkv) < n*3*H {
		p.qkv = make([]float32, n*3*H)
		p.ctxAll = make([]float32, n*H)
		p.interAll = make([]float32, n*c.Intermediate)
		p.vtAll = make([]float32, n*H)
	}
	qkv, ctxAll, inter := p.qkv[:n*3*H], p.ctxAll[:n*H], p.interAll[:n*c.Intermediate]
	backend.MatMulInt8(be, qkv, p.x, n, fl.qkv, false)
	be.AddBias(qkv, fl.qkvBias, n, 3*H)
	if sm, ok := be.(backend.StridedMultiplier); ok {
		p.attendStrided(sm, qkv, ctxAll, fl.qScaled)
	} else {
		p.attendCopied(qkv, ctxAll, fl.qScaled)
	}
	copy(p.acc, p.x)
	backend.MatMulInt8(be, p.acc, ctxAll, n, fl.out, true)
	p.EndAttention(&l.Resident)
	backend.MatMulInt8(be, inter, p.x, n, fl.up, false)
	be.AddBias(inter, fl.upBias, n, c.Intermediate)
	be.GELU(inter)
	backend.MatMulInt8(be, p.acc, inter, n, fl.down, true)
	p.EndLayer(&l.Resident)
}

// attendStrided is the attention of every head, from the Q, K, V
// projections qkv (seq×3·Hidden) into ctx (seq×Hidden), multiplying each
// head's columns in place. V is rearranged once for all heads, since P·V
// needs V's columns as rows: into packed panels (panelV) when the backend
// multiplies packed matrices faster, else transposed. qScaled: the
// queries already carry 1/√d.
func (p *Pass) attendStrided(sm backend.StridedMultiplier, qkv, ctx []float32, qScaled bool) {
	be, n, c := p.be, p.seq, p.cfg
	H, d := c.Hidden, c.HeadDim()
	pm, packed := be.(backend.PackedMultiplier)
	packed = packed && pm.PacksFloat32() && d%backend.PackedPanel == 0
	vt := p.vtAll[:n*H]
	if packed {
		panelV(vt, qkv, n, H)
	} else {
		transposeV(vt, qkv, n, H)
	}
	scale := float32(1 / math.Sqrt(float64(d)))
	for h := range c.Heads {
		sm.MatMulTStrided(p.scores, n, qkv[h*d:], 3*H, qkv[H+h*d:], 3*H, n, d, n, false)
		if !qScaled {
			for i := range p.scores {
				p.scores[i] *= scale
			}
		}
		be.Softmax(p.scores, n, n)
		if !packed {
			sm.MatMulTStrided(ctx[h*d:], H, p.scores, n, vt[h*d*n:], n, n, n, d, false)
			continue
		}
		// Head h's V columns are panels [h·d/16, (h+1)·d/16) of vt:
		// the packed Vᵀ of that head, multiplied without a horizontal
		// sum per output (the dot kernels' cost at K = seq).
		p.headV = backend.Packed{N: d, K: n, Data: vt[h*d*n : (h+1)*d*n]}
		pm.MatMulPacked(p.ctxh[:n*d], p.scores, n, &p.headV, false)
		for i := range n {
			copy(ctx[i*H+h*d:i*H+(h+1)*d], p.ctxh[i*d:(i+1)*d])
		}
	}
}

// panelV writes the V columns of qkv (n rows of 3·H, V at [2H, 3H)) in
// the panel layout of backend.Packed for the matrix Vᵀ (H rows of n):
// panel q holds columns [16q, 16q+16) of V, row by row, so
// vp[q·16·n + i·16 + j] = qkv[i·3H + 2H + 16q + j]. Each head's d columns
// (d a multiple of backend.PackedPanel) are then the packed Vᵀ of that
// head, and building it copies runs of 16 values, where transposing
// moved them one by one.
func panelV(vp, qkv []float32, n, H int) {
	const w = backend.PackedPanel
	for i := range n {
		row := qkv[i*3*H+2*H : i*3*H+3*H]
		for q := 0; q+w <= H; q += w {
			// An array assignment, not copy: a call per 64 bytes showed.
			*(*[w]float32)(vp[q*n+i*w:]) = *(*[w]float32)(row[q:])
		}
	}
}

// attendCopied is attendStrided for backends that multiply only dense
// matrices: each head's Q, K and transposed V are copied out first.
func (p *Pass) attendCopied(qkv, ctx []float32, qScaled bool) {
	be, n, c := p.be, p.seq, p.cfg
	H, d := c.Hidden, c.HeadDim()
	scale := float32(1 / math.Sqrt(float64(d)))
	for h := range c.Heads {
		for i := range n {
			row := qkv[i*3*H:]
			copy(p.q[i*d:(i+1)*d], row[h*d:(h+1)*d])
			copy(p.k[i*d:(i+1)*d], row[H+h*d:H+(h+1)*d])
			for j := range d {
				p.vt[j*n+i] = row[2*H+h*d+j]
			}
		}
		be.MatMulT(p.scores, p.q, p.k, n, d, n, false)
		if !qScaled {
			for i := range p.scores {
				p.scores[i] *= scale
			}
		}
		be.Softmax(p.scores, n, n)
		be.MatMulT(p.ctxh, p.scores, p.vt, n, n, d, false)
		for i := range n {
			copy(ctx[i*H+h*d:i*H+(h+1)*d], p.ctxh[i*d:(i+1)*d])
		}
	}
}

// Bytes is the weight memory of the fused matrices.
func (fl *fusedLayer) bytes() int64 {
	n := 4 * int64(len(fl.qkvBias)+len(fl.upBias))
	for _, m := range []backend.Matrix{fl.qkv, fl.out, fl.up, fl.down} {
		switch m := m.(type) {
		case *backend.Dense:
			n += 4 * int64(len(m.Data))
		case *backend.Packed:
			n += 4 * int64(len(m.Data))
		case *backend.Int8:
			n += int64(len(m.Q)) + 4*int64(len(m.Scale)+len(m.Sum))
		case *backend.Int4:
			n += int64(len(m.Codes)) + 4*int64(len(m.Scale)+len(m.Sum)) + 80*int64(len(m.Tables)) +
				2*int64(len(m.TableOf)) + 16*int64(len(m.Outliers))
		}
	}
	return n
}

// FusedBytes is the weight memory of the model's fused layers.
func (m *Model) FusedBytes() int64 {
	var n int64
	for i := range m.Layers {
		if fl := m.Layers[i].fused; fl != nil {
			n += fl.bytes()
		}
	}
	return n
}

// transposeV writes the V columns of qkv (n rows of 3·H, V at [2H, 3H))
// transposed into vt (H rows of n): vt[j·n+i] = qkv[i·3H+2H+j]. Four
// rows at a time, each written column a run of four, with the bounds
// checked once per block: the per-element loop was a visible part of a
// 4-bit forward pass.
func transposeV(vt, qkv []float32, n, H int) {
	i := 0
	for ; i+4 <= n; i += 4 {
		r0 := qkv[i*3*H+2*H : i*3*H+3*H]
		r1 := qkv[(i+1)*3*H+2*H : (i+1)*3*H+3*H]
		r2 := qkv[(i+2)*3*H+2*H : (i+2)*3*H+3*H]
		r3 := qkv[(i+3)*3*H+2*H : (i+3)*3*H+3*H]
		r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
		for j, v := range r0 {
			d := vt[j*n+i : j*n+i+4 : j*n+i+4]
			d[0], d[1], d[2], d[3] = v, r1[j], r2[j], r3[j]
		}
	}
	for ; i < n; i++ {
		for j, v := range qkv[i*3*H+2*H : i*3*H+3*H] {
			vt[j*n+i] = v
		}
	}
}
