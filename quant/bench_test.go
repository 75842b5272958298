package quant

import (
	"math/rand/v2"
	"testing"
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
