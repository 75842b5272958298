package bert_test

import (
	"context"
	"testing"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
)

// BenchmarkInt4Forward times one 25-token forward pass of wrx-sst2-small
// with its shards at 4 bits, on one native thread: the shards folded one by
// one (as the elastic executor runs them) in float32 and with UseInt4, and
// the layers fused by FuseInt4 (as a model held at 4 bits runs).
//
// Measured with the hidden state quantized once per layer half (the Pass's
// Int8Activations; before, once per Q, K, V and up product), 4 runs each
// interleaved, -benchtime 200x, min / median: shards-int4 1.82 / 1.85 ms
// (before: 2.35 / 2.41), fused-int4 1.22 / 1.22 ms (1.18 / 1.28).
func BenchmarkInt4Forward(b *testing.B) {
	dir := shared.Path(b, "models", "wrx-sst2-small")
	m, err := bert.Load(dir, bert.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	encodeShards4(b, m, true)
	be, err := backend.Open("native", backend.Config{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]int, 25)
	for i := range ids {
		ids[i] = 1000 + 37*i
	}
	ids[0], ids[24] = 101, 102
	run := func(name string, int4 bool) {
		b.Run(name, func(b *testing.B) {
			p := bert.NewPass(be, m.Config, len(ids))
			p.UseInt4(int4)
			for b.Loop() {
				if _, err := m.ForwardWith(context.Background(), p, ids, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("shards-float32", false)
	run("shards-int4", true)
	if err := m.FuseInt4(); err != nil {
		b.Fatal(err)
	}
	run("fused-int4", false)
}
