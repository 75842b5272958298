package synth_test

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wrxlabs/wrx/backend"
	_ "github.com/wrxlabs/wrx/backend/native"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/model/synth"
)

// The published architectures (Hugging Face config.json of
// bert-base-uncased, bert-large-uncased, distilbert-base-uncased, and
// ../shared/models/wrx-sst2-small).
var published = []struct {
	like                                  string
	modelType                             string
	layers, heads, hidden, inter, typeVoc int
}{
	{"bert-base", "bert", 12, 12, 768, 3072, 2},
	{"bert-large", "bert", 24, 16, 1024, 4096, 2},
	{"distilbert-base", "distilbert", 6, 12, 768, 3072, 0},
	{"wrx-sst2-small", "bert", 6, 12, 384, 1536, 2},
}

func TestConfig(t *testing.T) {
	for _, p := range published {
		t.Run(p.like, func(t *testing.T) {
			c, err := synth.Config(p.like)
			if err != nil {
				t.Fatal(err)
			}
			got := []int{c.Layers, c.Heads, c.Hidden, c.Intermediate, c.TypeVocab, c.VocabSize, c.MaxPosition, len(c.Labels)}
			want := []int{p.layers, p.heads, p.hidden, p.inter, p.typeVoc, 30522, 512, 2}
			if diff := cmp.Diff(want, got); diff != "" || c.ModelType != p.modelType {
				t.Errorf("layers, heads, hidden, intermediate, type vocab, vocab, positions, labels (-want +got):\n%s type %q", diff, c.ModelType)
			}
			if err := c.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestConfigUnknown(t *testing.T) {
	_, err := synth.Config("gpt-7")
	if err == nil || !strings.Contains(err.Error(), `"gpt-7"`) || !strings.Contains(err.Error(), "bert-base") {
		t.Fatalf("err = %v, want one naming gpt-7 and the known models", err)
	}
}

// TestModelShapes builds every architecture in full and checks every
// tensor's shape against the published sizes.
func TestModelShapes(t *testing.T) {
	for _, p := range published {
		t.Run(p.like, func(t *testing.T) {
			if testing.Short() && p.hidden > 384 {
				t.Skip("builds a full-size model; skipped in -short")
			}
			c, err := synth.Config(p.like)
			if err != nil {
				t.Fatal(err)
			}
			m, err := synth.Model(c, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			d, f := p.hidden/p.heads, p.inter/p.heads
			dims := func(m backend.Matrix) [2]int { n, k := m.Dims(); return [2]int{n, k} }
			if len(m.Layers) != p.layers {
				t.Fatalf("%d layers, want %d", len(m.Layers), p.layers)
			}
			for l, ly := range m.Layers {
				if len(ly.Attention) != p.heads || len(ly.FFN) != p.heads {
					t.Fatalf("layer %d: %d/%d shards, want %d", l, len(ly.Attention), len(ly.FFN), p.heads)
				}
				for h := range p.heads {
					a, ff := ly.Attention[h], ly.FFN[h]
					got := [][2]int{dims(a.Query), dims(a.Key), dims(a.Value), dims(a.Output), dims(ff.Up), dims(ff.Down),
						{len(a.QueryBias), len(ff.UpBias)}}
					want := [][2]int{{d, p.hidden}, {d, p.hidden}, {d, p.hidden}, {p.hidden, d}, {f, p.hidden}, {p.hidden, f}, {d, f}}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Fatalf("layer %d head %d: Q, K, V, O, up, down, biases (-want +got):\n%s", l, h, diff)
					}
				}
			}
			w := m.Embeddings.Word.(*bert.DenseWordEmbeddings)
			if len(w.Data) != 30522*p.hidden || len(m.Embeddings.Position) != 512*p.hidden || len(m.Embeddings.TokenType) != p.typeVoc*p.hidden {
				t.Errorf("embeddings: word %d, position %d, type %d floats", len(w.Data), len(m.Embeddings.Position), len(m.Embeddings.TokenType))
			}
		})
	}
}

func tinyConfig() *bert.Config {
	return &bert.Config{
		ModelType: bert.TypeBERT, VocabSize: 200, Hidden: 64, Layers: 2, Heads: 4, Intermediate: 128,
		MaxPosition: 64, TypeVocab: 2, LayerNormEps: 1e-12, Activation: "gelu", Labels: []string{"a", "b", "c"},
	}
}

func TestModelDeterministic(t *testing.T) {
	c := tinyConfig()
	a, err := synth.Model(c, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := synth.Model(c, 7)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b, cmpopts.IgnoreUnexported(bert.Layer{})); diff != "" {
		t.Fatalf("two models of seed 7 differ (-a +b):\n%s", diff)
	}
	o, err := synth.Model(c, 8)
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Equal(a.Layers[1].Attention[2].Query, o.Layers[1].Attention[2].Query) ||
		cmp.Equal(a.Embeddings.Word, o.Embeddings.Word) {
		t.Error("seeds 7 and 8 draw the same weights")
	}
	// Blocks of one model must not repeat one another either.
	if cmp.Equal(a.Layers[0].Attention[0].Query.(*backend.Dense).Data, a.Layers[0].Attention[1].Query.(*backend.Dense).Data) {
		t.Error("heads 0 and 1 of layer 0 have the same query weights")
	}
}

// moments returns the mean and std of w, and of w without the values beyond
// 4.5σ of a first pass: the Gaussian bulk.
func moments(w []float32) (mean, std, bulkStd float64, tail int) {
	var s, ss float64
	for _, v := range w {
		s += float64(v)
		ss += float64(v) * float64(v)
	}
	n := float64(len(w))
	mean = s / n
	std = math.Sqrt(ss/n - mean*mean)
	var bs, bss float64
	var bn int
	for _, v := range w {
		if math.Abs(float64(v)-mean) > 4.5*std {
			tail++
			continue
		}
		bs += float64(v)
		bss += float64(v) * float64(v)
		bn++
	}
	bm := bs / float64(bn)
	bulkStd = math.Sqrt(bss/float64(bn) - bm*bm)
	return mean, std, bulkStd, tail
}

// TestWeightStatistics checks the weights against what trained BERTs look
// like: matrices Gaussian with std in [0.02, 0.05] and a tail of about
// 0.05% beyond 4.5σ (a Gaussian alone puts 7e-6 there), LayerNorm weights
// near 1 and small biases.
func TestWeightStatistics(t *testing.T) {
	c := &bert.Config{
		ModelType: bert.TypeBERT, VocabSize: 2000, Hidden: 256, Layers: 4, Heads: 4, Intermediate: 1024,
		MaxPosition: 128, TypeVocab: 2, LayerNormEps: 1e-12, Activation: "gelu", Labels: []string{"a", "b"},
	}
	m, err := synth.Model(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	var mats [][]float32
	var norms, biases [][]float32
	mats = append(mats, m.Embeddings.Word.(*bert.DenseWordEmbeddings).Data, m.Embeddings.Position, m.Head.Dense.Data)
	norms = append(norms, m.Embeddings.NormWeight)
	biases = append(biases, m.Embeddings.NormBias, m.Head.DenseBias)
	for _, l := range m.Layers {
		r := l.Resident
		norms = append(norms, r.AttnNormWeight, r.FFNNormWeight)
		biases = append(biases, r.AttnNormBias, r.FFNNormBias, r.AttnOutputBias, r.FFNOutputBias)
		// One matrix per kind, all heads together, as a trained layer has.
		var q, k, v, o, up, down []float32
		for h := range c.Heads {
			a, f := l.Attention[h], l.FFN[h]
			q = append(q, a.Query.(*backend.Dense).Data...)
			k = append(k, a.Key.(*backend.Dense).Data...)
			v = append(v, a.Value.(*backend.Dense).Data...)
			o = append(o, a.Output.(*backend.Dense).Data...)
			up = append(up, f.Up.(*backend.Dense).Data...)
			down = append(down, f.Down.(*backend.Dense).Data...)
			biases = append(biases, a.QueryBias, a.KeyBias, a.ValueBias, f.UpBias)
		}
		mats = append(mats, q, k, v, o, up, down)
	}
	var tail, total int
	for i, w := range mats {
		mean, std, bulk, tl := moments(w)
		if math.Abs(mean) > 0.002 || bulk < 0.02 || bulk > 0.05 || std > 1.02*bulk+0.001 {
			t.Errorf("matrix %d: mean %.4f, std %.4f, bulk std %.4f; want mean ≈ 0, std in [0.02, 0.05]", i, mean, std, bulk)
		}
		tail += tl
		total += len(w)
	}
	if frac := float64(tail) / float64(total); frac < 0.0003 || frac > 0.0008 {
		t.Errorf("%.5f%% of weights are beyond 4.5σ (%d of %d), want about 0.05%%", 100*frac, tail, total)
	}
	for i, w := range norms {
		if mean, std, _, _ := moments(w); math.Abs(mean-1) > 0.02 || std > 0.1 {
			t.Errorf("LayerNorm weight %d: mean %.3f, std %.3f, want ≈ 1", i, mean, std)
		}
	}
	for i, w := range biases {
		for _, v := range w {
			if math.Abs(float64(v)) > 0.15 {
				t.Errorf("bias %d holds %g, want small biases (|b| ≤ 0.15)", i, v)
				break
			}
		}
	}
}

func TestModelErrors(t *testing.T) {
	if _, err := synth.Model(nil, 1); err == nil {
		t.Error("nil config: no error")
	}
	c := tinyConfig()
	c.Heads = 5 // does not divide hidden 64
	if _, err := synth.Model(c, 1); err == nil || !strings.Contains(err.Error(), "divisible") {
		t.Errorf("heads 5, hidden 64: err = %v, want a config error", err)
	}
}

func TestVocab(t *testing.T) {
	v, err := synth.Vocab(30522)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := bert.NewTokenizer(v, bert.TokenizerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 30522 {
		t.Errorf("vocab size %d", tok.VocabSize())
	}
	enc, err := tok.Encode("hello, world", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	// [CLS] hello , world [SEP] with the three words unknown.
	if diff := cmp.Diff([]int{2, 1, 1, 1, 3}, enc.InputIDs); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if _, err := synth.Vocab(4); err == nil {
		t.Error("vocab of 4: no error")
	}
}
