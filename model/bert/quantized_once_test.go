package bert_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
)

// oneCallInts is a backend with integer kernels that quantize the
// activations on every call: it hides the ActivationQuantizer of the
// backend it wraps.
type oneCallInts struct {
	backend.Backend
	backend.Int8Multiplier
	backend.Int4Multiplier
}

// countedQuantizer is a backend with an ActivationQuantizer that counts
// its quantizations.
type countedQuantizer struct {
	backend.Backend
	backend.ActivationQuantizer
	n int
}

func (c *countedQuantizer) QuantizeActivations(dst *backend.Int8Activations, a []float32, m, k int) {
	c.n++
	c.ActivationQuantizer.QuantizeActivations(dst, a, m, k)
}

// TestPassQuantizesHiddenStateOnce runs wrx-sst2-small's shards at 4 bits
// (UseInt4) and as int8 (UseInt8) on the native backend twice: with its
// ActivationQuantizer, the Pass quantizing each layer half's hidden state
// once for every head's Q, K, V and every shard's FFN up, and without,
// every product quantizing it again. The logits must be the same bit for
// bit, after two quantizations per layer. Int8 shards under UseInt4 run in
// float32 and must quantize nothing.
func TestPassQuantizesHiddenStateOnce(t *testing.T) {
	dir := shared.Path(t, "models", "wrx-sst2-small")
	refs := readReference(t, filepath.Join(dir, "reference.jsonl"))[:4]
	be, err := backend.Open("native", backend.Config{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	aq, ok := be.(backend.ActivationQuantizer)
	if !ok {
		t.Fatal("the native backend is not an ActivationQuantizer")
	}
	load := func() *bert.Model {
		m, err := bert.Load(dir, bert.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	shards4 := load()
	encodeShards4(t, shards4, true)
	shards8 := load()
	toInt8 := func(w backend.Matrix) backend.Matrix {
		d := w.(*backend.Dense)
		q, err := backend.QuantizeInt8(d.Data, d.N, d.K)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	for _, l := range shards8.Layers {
		for h := range l.Attention {
			a, f := l.Attention[h], l.FFN[h]
			a.Query, a.Key, a.Value, a.Output = toInt8(a.Query), toInt8(a.Key), toInt8(a.Value), toInt8(a.Output)
			f.Up, f.Down = toInt8(f.Up), toInt8(f.Down)
		}
	}
	layers := shards4.Config.Layers
	for _, c := range []struct {
		name       string
		m          *bert.Model
		int8, int4 bool
		quantized  int // quantizations per forward pass
	}{
		{"4-bit shards, UseInt4", shards4, false, true, 2 * layers},
		{"4-bit shards, UseInt8", shards4, true, false, 2 * layers},
		{"int8 shards, UseInt8", shards8, true, false, 2 * layers},
		{"int8 shards, UseInt4 (float32 products)", shards8, false, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			once := &countedQuantizer{Backend: be, ActivationQuantizer: aq}
			every := oneCallInts{Backend: be, Int8Multiplier: aq, Int4Multiplier: aq}
			// One Pass per backend, carried across inputs of several
			// lengths, as the runner keeps them.
			pOnce, pEvery := bert.NewPass(once, c.m.Config, 1), bert.NewPass(every, c.m.Config, 1)
			for _, p := range []*bert.Pass{pOnce, pEvery} {
				p.UseInt8(c.int8)
				p.UseInt4(c.int4)
			}
			for i, r := range refs {
				once.n = 0
				got, err := c.m.ForwardWith(context.Background(), pOnce, r.InputIDs, r.TokenTypeIDs)
				if err != nil {
					t.Fatal(err)
				}
				if once.n != c.quantized {
					t.Errorf("input %d: %d quantizations of the hidden state, want %d", i, once.n, c.quantized)
				}
				want, err := c.m.ForwardWith(context.Background(), pEvery, r.InputIDs, r.TokenTypeIDs)
				if err != nil {
					t.Fatal(err)
				}
				for j := range want {
					if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
						t.Fatalf("input %d (%d tokens): logits %v quantizing once, %v quantizing per product", i, len(r.InputIDs), got, want)
					}
				}
			}
		})
	}
}
