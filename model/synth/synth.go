// Package synth builds BERT-family models of random weights with the shapes
// of real ones, so that latency and memory can be measured at the scale of
// models whose trained weights are not at hand (BERT-base, BERT-large).
//
// The weights are drawn to look like a trained BERT's to the quantizer:
// each matrix is Gaussian with a standard deviation between 0.025 and 0.05,
// plus a few outliers (OutlierFraction of the weights, at about
// OutlierSigma standard deviations), LayerNorm weights near 1 and small
// biases. A synthetic model computes nothing useful: its predictions, and
// any accuracy measured with it, mean nothing.
package synth

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/model/bert"
)

// Names of the architectures Config knows.
const (
	BERTBase       = "bert-base"
	BERTLarge      = "bert-large"
	DistilBERTBase = "distilbert-base"
	WRXSST2Small   = "wrx-sst2-small"
	// Tiny is a 2-layer, 4-head BERT of hidden size 32 (about 1M weights,
	// nearly all in the word embeddings), small enough to convert and run
	// in a unit test or an example in well under a second.
	Tiny = "tiny"
)

// Outliers drawn into every weight matrix and embedding table: trained
// BERTs have a thin tail of large weights that a quantizer must keep
// exactly, and a pure Gaussian would make quantization look better than it
// is.
const (
	// OutlierFraction is the share of a matrix's weights that are
	// outliers.
	OutlierFraction = 0.0005
	// OutlierSigma is the typical outlier magnitude in standard
	// deviations; each outlier is drawn uniformly in [0.8, 1.2]×OutlierSigma.
	OutlierSigma = 6.0
)

type arch struct {
	modelType                                  string
	layers, heads, hidden, intermediate, types int
	labels                                     []string
}

var archs = map[string]arch{
	BERTBase:       {bert.TypeBERT, 12, 12, 768, 3072, 2, nil},
	BERTLarge:      {bert.TypeBERT, 24, 16, 1024, 4096, 2, nil},
	DistilBERTBase: {bert.TypeDistilBERT, 6, 12, 768, 3072, 0, nil},
	WRXSST2Small:   {bert.TypeBERT, 6, 12, 384, 1536, 2, []string{"negative", "positive"}},
	Tiny:           {bert.TypeBERT, 2, 4, 32, 64, 2, nil},
}

// Likes returns the names Config accepts, sorted.
func Likes() []string {
	names := make([]string, 0, len(archs))
	for n := range archs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Config returns the architecture of the named model: its layers, heads,
// hidden and intermediate sizes, the uncased WordPiece vocabulary size
// (30522), 512 positions, and two labels (Hugging Face's default
// LABEL_0/LABEL_1, or the real ones for wrx-sst2-small). The result is a
// new value the caller may change, e.g. to set other labels.
func Config(like string) (*bert.Config, error) {
	a, ok := archs[like]
	if !ok {
		return nil, fmt.Errorf("synth: unknown model %q (known: %s)", like, strings.Join(Likes(), ", "))
	}
	labels := slices.Clone(a.labels)
	if labels == nil {
		labels = []string{"LABEL_0", "LABEL_1"}
	}
	return &bert.Config{
		ModelType:    a.modelType,
		VocabSize:    30522,
		Hidden:       a.hidden,
		Layers:       a.layers,
		Heads:        a.heads,
		Intermediate: a.intermediate,
		MaxPosition:  512,
		TypeVocab:    a.types,
		LayerNormEps: 1e-12,
		Activation:   "gelu",
		Labels:       labels,
		PadTokenID:   0,
	}, nil
}

// Vocab returns a vocabulary of size tokens for a synthetic model: [PAD],
// [UNK], [CLS], [SEP] and [MASK], then fillers "[unused0]", "[unused1]"...
// With it every word of a text tokenizes to [UNK], one token per word, which
// keeps sequence lengths close to a real WordPiece vocabulary's. Use a real
// vocabulary when one is at hand.
func Vocab(size int) ([]string, error) {
	special := []string{bert.TokenPAD, bert.TokenUNK, bert.TokenCLS, bert.TokenSEP, "[MASK]"}
	if size < len(special) {
		return nil, fmt.Errorf("synth: vocabulary of %d tokens cannot hold the %d special tokens", size, len(special))
	}
	v := make([]string, size)
	copy(v, special)
	for i := len(special); i < size; i++ {
		v[i] = fmt.Sprintf("[unused%d]", i-len(special))
	}
	return v, nil
}

// Standard deviations of the weight matrices, close to those of a trained
// BERT-base. Encoder matrices are scaled per layer by a factor in
// [0.85, 1.15], so every std stays within 0.025–0.05.
const (
	stdWord       = 0.045
	stdPosition   = 0.025
	stdTokenType  = 0.025
	stdQueryKey   = 0.042
	stdValueOut   = 0.03
	stdUp         = 0.04
	stdDown       = 0.036
	stdHeadDense  = 0.03
	stdClassifier = 0.025
	stdBias       = 0.02
	stdNormWeight = 0.05 // around 1
	stdNormBias   = 0.02
)

// Stream kinds: every tensor (or per-head block of one) draws from its own
// generator, keyed by (seed, kind, layer, head), so the result does not
// depend on the order or parallelism of generation.
const (
	kWord = iota + 1
	kPosition
	kTokenType
	kEmbNorm
	kHeadDense
	kHeadDenseBias
	kClassifier
	kClassifierBias
	kLayerScale
	kResident
	kQuery
	kKey
	kValue
	kOutput
	kQKVBias
	kUp
	kUpBias
	kDown
)

// Model returns a model of architecture cfg with every shard present and
// random weights drawn as the package documentation describes. The same
// (cfg, seed) always gives the same weights. Shards are drawn directly in
// their sharded layout, so the model takes no more memory than its
// parameters (4 bytes each: 440 MB for BERT-base), and layers are drawn in
// parallel.
func Model(cfg *bert.Config, seed uint64) (*bert.Model, error) {
	if cfg == nil {
		return nil, errors.New("synth: nil config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("synth: config: %w", err)
	}
	c := *cfg
	c.Labels = slices.Clone(cfg.Labels)
	H, L := c.Hidden, len(c.Labels)
	g := gen{seed: seed}
	m := &bert.Model{Config: &c, Layers: make([]bert.Layer, c.Layers)}

	// Jobs are independent and each owns its outputs; a bounded number run
	// at once so the CPU count, not the layer count, sets the parallelism.
	var jobs []func()
	jobs = append(jobs,
		func() {
			m.Embeddings.Word = &bert.DenseWordEmbeddings{Hidden: H, Data: g.gauss(c.VocabSize*H, stdWord, true, kWord, 0, 0)}
		},
		func() {
			e := &m.Embeddings
			e.Position = g.gauss(c.MaxPosition*H, stdPosition, true, kPosition, 0, 0)
			if c.TypeVocab > 0 {
				e.TokenType = g.gauss(c.TypeVocab*H, stdTokenType, false, kTokenType, 0, 0)
			}
			r := g.rng(kEmbNorm, 0, 0)
			e.NormWeight = normal(r, H, 1, stdNormWeight)
			e.NormBias = normal(r, H, 0, stdNormBias)
			m.Head = bert.Head{
				Dense:          &backend.Dense{N: H, K: H, Data: g.gauss(H*H, stdHeadDense, true, kHeadDense, 0, 0)},
				DenseBias:      g.gauss(H, stdBias, false, kHeadDenseBias, 0, 0),
				Classifier:     &backend.Dense{N: L, K: H, Data: g.gauss(L*H, stdClassifier, false, kClassifier, 0, 0)},
				ClassifierBias: g.gauss(L, stdBias, false, kClassifierBias, 0, 0),
			}
		})
	for l := range c.Layers {
		jobs = append(jobs, func() { m.Layers[l] = g.layer(&c, l) })
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for _, job := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			job()
		})
	}
	wg.Wait()
	if err := m.Validate(); err != nil {
		// A shape mistake here is a bug in this package, not bad input.
		return nil, fmt.Errorf("synth: built an inconsistent model: %w", err)
	}
	return m, nil
}

// gen draws the weights of one seed.
type gen struct{ seed uint64 }

// rng returns the generator of one tensor block.
func (g gen) rng(kind, layer, head int) *rand.Rand {
	id := uint64(kind)<<48 | uint64(layer)<<24 | uint64(head)
	return rand.New(rand.NewPCG(splitmix(g.seed), splitmix(g.seed^splitmix(id))))
}

// splitmix is SplitMix64's finaliser: it spreads nearby seeds and ids over
// the whole state space so that their streams are unrelated.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// gauss draws n weights N(0, std²) from the stream (kind, layer, head),
// with outliers when asked.
func (g gen) gauss(n int, std float64, outliers bool, kind, layer, head int) []float32 {
	r := g.rng(kind, layer, head)
	w := normal(r, n, 0, std)
	if outliers {
		addOutliers(r, w, std)
	}
	return w
}

func normal(r *rand.Rand, n int, mean, std float64) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(mean + std*r.NormFloat64())
	}
	return w
}

// addOutliers replaces about OutlierFraction of w by ±[0.8,1.2]·OutlierSigma·std.
// Positions are drawn as geometric gaps, which costs one draw per outlier
// rather than one per weight.
func addOutliers(r *rand.Rand, w []float32, std float64) {
	logq := math.Log1p(-OutlierFraction)
	i := -1
	for {
		gap := math.Log(1-r.Float64()) / logq // ≥ 0: failures before the next outlier
		if gap >= float64(len(w)-i) {
			return
		}
		i += int(gap) + 1
		if i >= len(w) {
			return
		}
		v := OutlierSigma * std * (0.8 + 0.4*r.Float64())
		if r.IntN(2) == 0 {
			v = -v
		}
		w[i] = float32(v)
	}
}

// layer draws encoder layer l, head block by head block: each block of a
// matrix is exactly the rows (Q, K, V, up) or columns (output, down) that
// the shard holds, so no full matrix is ever built and copied.
func (g gen) layer(c *bert.Config, l int) bert.Layer {
	H, d, f := c.Hidden, c.HeadDim(), c.FFNSlice()
	// One scale per (layer, matrix), shared by the heads, as a trained
	// matrix has one spread across its rows.
	sr := g.rng(kLayerScale, l, 0)
	scale := func(std float64) float64 { return std * (0.85 + 0.3*sr.Float64()) }
	sq, sk, sv, so := scale(stdQueryKey), scale(stdQueryKey), scale(stdValueOut), scale(stdValueOut)
	su, sd := scale(stdUp), scale(stdDown)

	rr := g.rng(kResident, l, 0)
	ly := bert.Layer{
		Resident: bert.LayerResident{
			AttnOutputBias: normal(rr, H, 0, stdBias),
			AttnNormWeight: normal(rr, H, 1, stdNormWeight),
			AttnNormBias:   normal(rr, H, 0, stdNormBias),
			FFNOutputBias:  normal(rr, H, 0, stdBias),
			FFNNormWeight:  normal(rr, H, 1, stdNormWeight),
			FFNNormBias:    normal(rr, H, 0, stdNormBias),
		},
		Attention: make([]*bert.AttentionShard, c.Heads),
		FFN:       make([]*bert.FFNShard, c.Heads),
	}
	for h := range c.Heads {
		br := g.rng(kQKVBias, l, h)
		ly.Attention[h] = &bert.AttentionShard{
			Query:     &backend.Dense{N: d, K: H, Data: g.gauss(d*H, sq, true, kQuery, l, h)},
			Key:       &backend.Dense{N: d, K: H, Data: g.gauss(d*H, sk, true, kKey, l, h)},
			Value:     &backend.Dense{N: d, K: H, Data: g.gauss(d*H, sv, true, kValue, l, h)},
			Output:    &backend.Dense{N: H, K: d, Data: g.gauss(H*d, so, true, kOutput, l, h)},
			QueryBias: normal(br, d, 0, stdBias),
			KeyBias:   normal(br, d, 0, stdBias),
			ValueBias: normal(br, d, 0, stdBias),
		}
		ly.FFN[h] = &bert.FFNShard{
			Up:     &backend.Dense{N: f, K: H, Data: g.gauss(f*H, su, true, kUp, l, h)},
			UpBias: g.gauss(f, stdBias, false, kUpBias, l, h),
			Down:   &backend.Dense{N: H, K: f, Data: g.gauss(H*f, sd, true, kDown, l, h)},
		}
	}
	return ly
}
