package bert_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
)

// BenchmarkShardForward times one 25-token forward pass of wrx-sst2-small
// with every shard decoded from a blob at one fidelity (as the elastic
// executor streams them), on one native thread, on the float32 path
// (MatMul) and on the integer one (UseInt8, as the executor runs).
func BenchmarkShardForward(b *testing.B) {
	dir := shared.Path(b, "models", "wrx-sst2-small")
	be, err := backend.Open("native", backend.Config{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]int, 25)
	for i := range ids {
		ids[i] = 1000 + 37*i
	}
	ids[0], ids[24] = 101, 102
	for _, f := range quant.AllFidelities() {
		m, err := bert.Load(dir, bert.LoadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		encodeShards(b, m, f)
		for _, int8 := range []bool{false, true} {
			name := fmt.Sprintf("bits=%d/float32", f)
			if int8 {
				name = fmt.Sprintf("bits=%d/int", f)
			}
			b.Run(name, func(b *testing.B) {
				p := bert.NewPass(be, m.Config, len(ids))
				p.UseInt8(int8)
				for b.Loop() {
					if _, err := m.ForwardWith(context.Background(), p, ids, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// encodeShards replaces every shard matrix of m by its blob at fidelity f,
// decoded (4-bit blobs repacked, as a store holds them).
func encodeShards(tb testing.TB, m *bert.Model, f quant.Fidelity) {
	tb.Helper()
	enc := func(w backend.Matrix) backend.Matrix {
		d := w.(*backend.Dense)
		blob, err := quant.Encode(d.Data, d.N, d.K, f, quant.EncodeOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := quant.RepackInt4(blob); err != nil {
			tb.Fatal(err)
		}
		q, err := quant.Decode(blob)
		if err != nil {
			tb.Fatal(err)
		}
		return q
	}
	for _, l := range m.Layers {
		for h := range l.Attention {
			a, f := l.Attention[h], l.FFN[h]
			a.Query, a.Key, a.Value, a.Output = enc(a.Query), enc(a.Key), enc(a.Value), enc(a.Output)
			f.Up, f.Down = enc(f.Up), enc(f.Down)
		}
	}
}
