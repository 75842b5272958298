package quant

import (
	"math/rand/v2"
	"testing"

	"github.com/wrxlabs/wrx/backend"
	_ "github.com/wrxlabs/wrx/backend/native"
)

// gaussianMatrix returns n·k weights drawn from N(0, 0.04²), the spread of
// BERT weights, from a fixed seed.
func gaussianMatrix(n, k int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	w := make([]float32, n*k)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.04)
	}
	return w
}

// BenchmarkEncode encodes one FFN shard matrix (128×384) per fidelity.
func BenchmarkEncode(b *testing.B) {
	const n, k = 128, 384
	w := gaussianMatrix(n, k, 1)
	for _, f := range AllFidelities() {
		b.Run(f.String(), func(b *testing.B) {
			for b.Loop() {
				if _, err := Encode(w, n, k, f, EncodeOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(n*k), "ns/weight")
		})
	}
}

// BenchmarkDecodeRows expands a 128×384 matrix in 32-row tiles, as
// backend.MatMul does, per fidelity.
func BenchmarkDecodeRows(b *testing.B) {
	const n, k = 128, 384
	w := gaussianMatrix(n, k, 1)
	for _, f := range AllFidelities() {
		b.Run(f.String(), func(b *testing.B) {
			blob, err := Encode(w, n, k, f, EncodeOptions{})
			if err != nil {
				b.Fatal(err)
			}
			m, err := Decode(blob)
			if err != nil {
				b.Fatal(err)
			}
			tile := make([]float32, 32*k)
			for b.Loop() {
				for r0 := 0; r0 < n; r0 += 32 {
					m.DecodeRows(tile, r0, r0+32)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(n*k), "ns/weight")
		})
	}
}

// BenchmarkDecodeInto decodes a 128×384 blob (an FFN shard matrix) into a
// reused Matrix per fidelity, as the elastic executor decodes each
// streamed blob: what building the integer forms costs, 4-bit blobs
// repacked in place beforehand as a store's are.
func BenchmarkDecodeInto(b *testing.B) {
	const n, k = 128, 384
	w := gaussianMatrix(n, k, 1)
	for _, f := range AllFidelities() {
		b.Run(f.String(), func(b *testing.B) {
			blob, err := Encode(w, n, k, f, EncodeOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := RepackInt4(blob); err != nil {
				b.Fatal(err)
			}
			var m Matrix
			for b.Loop() {
				if err := DecodeInto(&m, blob); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(n*k), "ns/weight")
		})
	}
}

// tiled hides a Matrix's integer and dense forms, so that backend.MatMul
// takes its generic path: decoding tiles of 32 rows into float32.
type tiled struct{ backend.Matrix }

// BenchmarkMatMulShard multiplies 25 rows of activations by a 128×384
// matrix (an FFN shard's up projection) on one native thread, per
// fidelity: through the generic tiled path ("tiles") and through the
// matrix's own form ("direct": MatMulInt8 for the integer forms, MatMul's
// Dense view for fp32), as the elastic executor runs it.
func BenchmarkMatMulShard(b *testing.B) {
	const m, n, k = 25, 128, 384
	be, err := backend.Open("native", backend.Config{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	w := gaussianMatrix(n, k, 1)
	a := gaussianMatrix(m, k, 2)
	out := make([]float32, m*n)
	for _, f := range AllFidelities() {
		blob, err := Encode(w, n, k, f, EncodeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := RepackInt4(blob); err != nil {
			b.Fatal(err)
		}
		q, err := Decode(blob)
		if err != nil {
			b.Fatal(err)
		}
		for _, direct := range []bool{false, true} {
			name := "tiles"
			var x backend.Matrix = tiled{q}
			if direct {
				name, x = "direct", q
			}
			b.Run(f.String()+"/"+name, func(b *testing.B) {
				for b.Loop() {
					backend.MatMulInt8(be, out, a, m, x, false)
				}
			})
		}
	}
}
