package bert

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/wrxlabs/wrx/backend"
)

// LoadOptions controls Load. The zero value loads every layer and every
// shard at float32, which is the only mode so far; the struct exists so that
// options can be added without changing Load's signature.
type LoadOptions struct{}

// Load reads a Hugging Face model directory (config.json plus
// model.safetensors, a sharded model.safetensors.index.json or
// pytorch_model.bin; see OpenCheckpoint), checks that
// every tensor the architecture needs is present with the expected shape,
// and returns the model with every layer cut into head shards.
func Load(dir string, opts LoadOptions) (*Model, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("bert: model directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("bert: model directory %s is not a directory", dir)
	}
	cfg, err := LoadConfig(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, err
	}
	w, err := OpenCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	m, err := FromTensors(cfg, w, opts)
	if err != nil {
		return nil, fmt.Errorf("bert: model %s: %w", dir, err)
	}
	return m, nil
}

// tensorNames spells the Hugging Face parameter names of one architecture.
// Each name is a prefix to which ".weight" or ".bias" is added.
type tensorNames struct {
	wordEmb, posEmb, typeEmb, embNorm string
	layer                             func(i int) string
	query, key, value, attnOut        string
	attnNorm, up, down, ffnNorm       string
	headDense, classifier             string
}

func namesFor(cfg *Config, w Tensors) tensorNames {
	if cfg.ModelType == TypeDistilBERT {
		p := "distilbert."
		// A bare DistilBertModel is saved without the prefix.
		if _, ok := w.Info(p + "embeddings.word_embeddings.weight"); !ok {
			if _, ok := w.Info("embeddings.word_embeddings.weight"); ok {
				p = ""
			}
		}
		return tensorNames{
			wordEmb: p + "embeddings.word_embeddings",
			posEmb:  p + "embeddings.position_embeddings",
			embNorm: p + "embeddings.LayerNorm",
			layer:   func(i int) string { return p + "transformer.layer." + strconv.Itoa(i) + "." },
			query:   "attention.q_lin", key: "attention.k_lin", value: "attention.v_lin",
			attnOut: "attention.out_lin", attnNorm: "sa_layer_norm",
			up: "ffn.lin1", down: "ffn.lin2", ffnNorm: "output_layer_norm",
			headDense: "pre_classifier", classifier: "classifier",
		}
	}
	p := "bert."
	if _, ok := w.Info(p + "embeddings.word_embeddings.weight"); !ok {
		if _, ok := w.Info("embeddings.word_embeddings.weight"); ok {
			p = ""
		}
	}
	return tensorNames{
		wordEmb: p + "embeddings.word_embeddings",
		posEmb:  p + "embeddings.position_embeddings",
		typeEmb: p + "embeddings.token_type_embeddings",
		embNorm: p + "embeddings.LayerNorm",
		layer:   func(i int) string { return p + "encoder.layer." + strconv.Itoa(i) + "." },
		query:   "attention.self.query", key: "attention.self.key", value: "attention.self.value",
		attnOut: "attention.output.dense", attnNorm: "attention.output.LayerNorm",
		up: "intermediate.dense", down: "output.dense", ffnNorm: "output.LayerNorm",
		headDense: p + "pooler.dense", classifier: "classifier",
	}
}

type tensorSpec struct {
	name  string
	shape []int
}

// specs lists every tensor the architecture needs, with its shape.
func (n *tensorNames) specs(cfg *Config) []tensorSpec {
	H, I, L := cfg.Hidden, cfg.Intermediate, len(cfg.Labels)
	var s []tensorSpec
	add := func(name string, shape ...int) { s = append(s, tensorSpec{name, shape}) }
	linear := func(prefix string, out, in int) {
		add(prefix+".weight", out, in)
		add(prefix+".bias", out)
	}
	norm := func(prefix string) {
		add(prefix+".weight", H)
		add(prefix+".bias", H)
	}
	add(n.wordEmb+".weight", cfg.VocabSize, H)
	add(n.posEmb+".weight", cfg.MaxPosition, H)
	if n.typeEmb != "" {
		add(n.typeEmb+".weight", cfg.TypeVocab, H)
	}
	norm(n.embNorm)
	for i := range cfg.Layers {
		p := n.layer(i)
		linear(p+n.query, H, H)
		linear(p+n.key, H, H)
		linear(p+n.value, H, H)
		linear(p+n.attnOut, H, H)
		norm(p + n.attnNorm)
		linear(p+n.up, I, H)
		linear(p+n.down, H, I)
		norm(p + n.ffnNorm)
	}
	linear(n.headDense, H, H)
	linear(n.classifier, L, H)
	return s
}

// checkTensors reports every missing, misshapen or non-float tensor: the
// first one in full, then how many more there are.
func checkTensors(w Tensors, specs []tensorSpec) error {
	var problems []string
	for _, sp := range specs {
		info, ok := w.Info(sp.name)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("tensor %q is missing", sp.name))
		case !equalInts(info.Shape, sp.shape):
			problems = append(problems, fmt.Sprintf("tensor %q has shape %v, want %v", sp.name, info.Shape, sp.shape))
		case info.Dtype != F32 && info.Dtype != F16 && info.Dtype != BF16:
			problems = append(problems, fmt.Sprintf("tensor %q has dtype %s, want F32, F16 or BF16", sp.name, info.Dtype))
		}
	}
	switch len(problems) {
	case 0:
		return nil
	case 1:
		return errors.New(problems[0])
	default:
		return fmt.Errorf("%s (and %d more tensor problems)", problems[0], len(problems)-1)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FromSafetensors is FromTensors for a safetensors checkpoint.
func FromSafetensors(cfg *Config, w *Safetensors, opts LoadOptions) (*Model, error) {
	return FromTensors(cfg, w, opts)
}

// FromTensors builds a model of architecture cfg from checkpoint tensors
// (safetensors or PyTorch), cutting every layer into head shards as the
// package documentation describes. cfg must be valid; the tensors are
// checked for presence, dtype and shape before anything is converted.
func FromTensors(cfg *Config, w Tensors, opts LoadOptions) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	names := namesFor(cfg, w)
	specs := names.specs(cfg)
	if err := checkTensors(w, specs); err != nil {
		return nil, err
	}
	// Tensors convert as they are cut, so that only one layer's float32
	// copies are alive beside the shards. A failed conversion yields zeros of
	// the checked size, so the cutting below cannot go out of range, and the
	// error is returned at the end.
	want := make(map[string]int, len(specs))
	for _, sp := range specs {
		n := 1
		for _, d := range sp.shape {
			n *= d
		}
		want[sp.name] = n
	}
	var convErr error
	get := func(name string) []float32 {
		v, err := w.Float32(name)
		if err == nil && len(v) != want[name] {
			err = fmt.Errorf("bert: tensor %q converted to %d values, want %d", name, len(v), want[name])
		}
		if err != nil {
			convErr = cmp.Or(convErr, err)
			return make([]float32, want[name])
		}
		return v
	}
	H, d, f := cfg.Hidden, cfg.HeadDim(), cfg.FFNSlice()
	m := &Model{Config: cfg}
	m.Embeddings = Embeddings{
		Word:       &DenseWordEmbeddings{Hidden: H, Data: get(names.wordEmb + ".weight")},
		Position:   get(names.posEmb + ".weight"),
		NormWeight: get(names.embNorm + ".weight"),
		NormBias:   get(names.embNorm + ".bias"),
	}
	if names.typeEmb != "" {
		m.Embeddings.TokenType = get(names.typeEmb + ".weight")
	}
	m.Layers = make([]Layer, cfg.Layers)
	for i := range m.Layers {
		p := names.layer(i)
		q, qb := get(p+names.query+".weight"), get(p+names.query+".bias")
		k, kb := get(p+names.key+".weight"), get(p+names.key+".bias")
		v, vb := get(p+names.value+".weight"), get(p+names.value+".bias")
		o := get(p + names.attnOut + ".weight")
		up, upb := get(p+names.up+".weight"), get(p+names.up+".bias")
		down := get(p + names.down + ".weight")
		l := &m.Layers[i]
		l.Resident = LayerResident{
			AttnOutputBias: get(p + names.attnOut + ".bias"),
			AttnNormWeight: get(p + names.attnNorm + ".weight"),
			AttnNormBias:   get(p + names.attnNorm + ".bias"),
			FFNOutputBias:  get(p + names.down + ".bias"),
			FFNNormWeight:  get(p + names.ffnNorm + ".weight"),
			FFNNormBias:    get(p + names.ffnNorm + ".bias"),
		}
		l.Attention = make([]*AttentionShard, cfg.Heads)
		l.FFN = make([]*FFNShard, cfg.Heads)
		for h := range cfg.Heads {
			l.Attention[h] = &AttentionShard{
				Query:     rowBlock(q, H, h*d, d),
				Key:       rowBlock(k, H, h*d, d),
				Value:     rowBlock(v, H, h*d, d),
				QueryBias: clone(qb[h*d : (h+1)*d]),
				KeyBias:   clone(kb[h*d : (h+1)*d]),
				ValueBias: clone(vb[h*d : (h+1)*d]),
				Output:    colBlock(o, H, H, h*d, d),
			}
			l.FFN[h] = &FFNShard{
				Up:     rowBlock(up, H, h*f, f),
				UpBias: clone(upb[h*f : (h+1)*f]),
				Down:   colBlock(down, H, cfg.Intermediate, h*f, f),
			}
		}
	}
	m.Head = Head{
		Dense:          &backend.Dense{N: H, K: H, Data: get(names.headDense + ".weight")},
		DenseBias:      get(names.headDense + ".bias"),
		Classifier:     &backend.Dense{N: len(cfg.Labels), K: H, Data: get(names.classifier + ".weight")},
		ClassifierBias: get(names.classifier + ".bias"),
	}
	if convErr != nil {
		return nil, convErr
	}
	return m, nil
}

// rowBlock copies rows [r0, r0+n) of a row-major matrix with k columns. The
// copy lets each shard be kept or freed on its own.
func rowBlock(w []float32, k, r0, n int) *backend.Dense {
	return &backend.Dense{N: n, K: k, Data: clone(w[r0*k : (r0+n)*k])}
}

// colBlock gathers columns [c0, c0+n) of a row-major rows×cols matrix into a
// rows×n matrix.
func colBlock(w []float32, rows, cols, c0, n int) *backend.Dense {
	out := make([]float32, rows*n)
	for r := range rows {
		copy(out[r*n:(r+1)*n], w[r*cols+c0:r*cols+c0+n])
	}
	return &backend.Dense{N: rows, K: n, Data: out}
}

func clone(s []float32) []float32 { return append([]float32(nil), s...) }

// Validate checks that m is consistent with its config: the number of layers
// and of shard slots, the length of every resident vector, and the
// dimensions of every present shard and head matrix. Absent (nil) shards are
// allowed. A loader that assembles a Model from anywhere but Load, such as a
// shard store, should call it before running the model.
func (m *Model) Validate() error {
	if m.Config == nil {
		return errors.New("bert: model has no config")
	}
	c := m.Config
	if err := c.Validate(); err != nil {
		return fmt.Errorf("bert: model config: %w", err)
	}
	H, d, f, L := c.Hidden, c.HeadDim(), c.FFNSlice(), len(c.Labels)
	e := &m.Embeddings
	if e.Word == nil {
		return errors.New("bert: embeddings: no word embeddings")
	}
	if dw, ok := e.Word.(*DenseWordEmbeddings); ok {
		if dw.Hidden != H || len(dw.Data) != c.VocabSize*H {
			return fmt.Errorf("bert: embeddings: word table is %d floats of width %d, want %d×%d", len(dw.Data), dw.Hidden, c.VocabSize, H)
		}
	}
	typeRows := c.TypeVocab
	for _, v := range []struct {
		what string
		got  []float32
		want int
	}{
		{"position table", e.Position, c.MaxPosition * H},
		{"token type table", e.TokenType, typeRows * H},
		{"LayerNorm weight", e.NormWeight, H},
		{"LayerNorm bias", e.NormBias, H},
	} {
		if len(v.got) != v.want {
			return fmt.Errorf("bert: embeddings: %s has %d floats, want %d", v.what, len(v.got), v.want)
		}
	}
	if len(m.Layers) != c.Layers {
		return fmt.Errorf("bert: model has %d layers, config says %d", len(m.Layers), c.Layers)
	}
	for i := range m.Layers {
		if err := m.Layers[i].validate(H, d, f, c.Heads); err != nil {
			return fmt.Errorf("bert: layer %d: %w", i, err)
		}
	}
	hd := &m.Head
	if err := checkDense("head dense", hd.Dense, H, H); err != nil {
		return fmt.Errorf("bert: %w", err)
	}
	if err := checkDense("classifier", hd.Classifier, L, H); err != nil {
		return fmt.Errorf("bert: %w", err)
	}
	if len(hd.DenseBias) != H || len(hd.ClassifierBias) != L {
		return fmt.Errorf("bert: head biases have %d and %d floats, want %d and %d", len(hd.DenseBias), len(hd.ClassifierBias), H, L)
	}
	return nil
}

func (l *Layer) validate(H, d, f, heads int) error {
	r := &l.Resident
	for _, v := range []struct {
		what string
		got  []float32
	}{
		{"attention output bias", r.AttnOutputBias},
		{"attention LayerNorm weight", r.AttnNormWeight},
		{"attention LayerNorm bias", r.AttnNormBias},
		{"FFN output bias", r.FFNOutputBias},
		{"output LayerNorm weight", r.FFNNormWeight},
		{"output LayerNorm bias", r.FFNNormBias},
	} {
		if len(v.got) != H {
			return fmt.Errorf("%s has %d floats, want %d", v.what, len(v.got), H)
		}
	}
	if len(l.Attention) != heads || len(l.FFN) != heads {
		return fmt.Errorf("%d attention and %d FFN shard slots, want %d each", len(l.Attention), len(l.FFN), heads)
	}
	for h, s := range l.Attention {
		if s == nil {
			continue
		}
		for _, mt := range []struct {
			what string
			m    backend.Matrix
			n, k int
		}{
			{"query", s.Query, d, H}, {"key", s.Key, d, H}, {"value", s.Value, d, H}, {"output", s.Output, H, d},
		} {
			if err := checkMatrix(mt.what, mt.m, mt.n, mt.k); err != nil {
				return fmt.Errorf("attention shard %d: %w", h, err)
			}
		}
		if len(s.QueryBias) != d || len(s.KeyBias) != d || len(s.ValueBias) != d {
			return fmt.Errorf("attention shard %d: biases have %d, %d, %d floats, want %d", h, len(s.QueryBias), len(s.KeyBias), len(s.ValueBias), d)
		}
	}
	for h, s := range l.FFN {
		if s == nil {
			continue
		}
		if err := checkMatrix("up", s.Up, f, H); err != nil {
			return fmt.Errorf("FFN shard %d: %w", h, err)
		}
		if err := checkMatrix("down", s.Down, H, f); err != nil {
			return fmt.Errorf("FFN shard %d: %w", h, err)
		}
		if len(s.UpBias) != f {
			return fmt.Errorf("FFN shard %d: up bias has %d floats, want %d", h, len(s.UpBias), f)
		}
	}
	return nil
}

func checkMatrix(what string, m backend.Matrix, n, k int) error {
	if m == nil {
		return fmt.Errorf("%s matrix is missing", what)
	}
	if d, ok := m.(*backend.Dense); ok {
		return checkDense(what, d, n, k)
	}
	if gn, gk := m.Dims(); gn != n || gk != k {
		return fmt.Errorf("%s matrix is %d×%d, want %d×%d", what, gn, gk, n, k)
	}
	return nil
}

func checkDense(what string, m *backend.Dense, n, k int) error {
	if m == nil {
		return fmt.Errorf("%s matrix is missing", what)
	}
	if m.N != n || m.K != k || len(m.Data) != n*k {
		return fmt.Errorf("%s matrix is %d×%d with %d floats, want %d×%d", what, m.N, m.K, len(m.Data), n, k)
	}
	return nil
}
