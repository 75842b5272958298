package backendtest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/wrxlabs/wrx/backend"
)

// benchMatMul are the MatMulT shapes Bench measures: a 128-token sequence
// through BERT-base (hidden 768, FFN 3072) and BERT-small (384, 1536)
// layers, and one token through the largest layer.
var benchMatMul = [][3]int{
	{128, 768, 768}, {128, 768, 3072}, {128, 3072, 768},
	{128, 384, 384}, {128, 384, 1536}, {128, 1536, 384},
	{1, 768, 3072},
}

// Bench benchmarks be's kernels at BERT shapes, one sub-benchmark each.
// MatMulT sub-benchmarks report GFLOP/s (2·m·k·n floating-point operations
// per call); the others report ns/op only. Call it from a Benchmark
// function of the implementation:
//
//	func BenchmarkKernels(b *testing.B) { backendtest.Bench(b, mybackend.New()) }
//
// Select shapes with -bench, e.g. -bench 'Kernels/MatMulT/m=128,k=768,n=3072'.
func Bench(b *testing.B, be backend.Backend) {
	r := rand.New(rand.NewPCG(7, 0x62656e6368))
	for _, s := range benchMatMul {
		m, k, n := s[0], s[1], s[2]
		b.Run(fmt.Sprintf("MatMulT/m=%d,k=%d,n=%d", m, k, n), func(b *testing.B) {
			a := make([]float32, m*k)
			w := make([]float32, n*k)
			out := make([]float32, m*n)
			fillUniform(r, a, 1)
			fillUniform(r, w, 1)
			for b.Loop() {
				be.MatMulT(out, a, w, m, k, n, false)
			}
			if sec := b.Elapsed().Seconds(); sec > 0 {
				b.ReportMetric(2*float64(m*k*n)*float64(b.N)/sec/1e9, "GFLOP/s")
			}
		})
	}
	b.Run("GELU/n=393216", func(b *testing.B) { // 128 tokens × 3072
		x := make([]float32, 128*3072)
		geluInputs(r, x)
		orig := append([]float32(nil), x...)
		for b.Loop() {
			copy(x, orig) // keep the inputs in range; copying is cheap next to erf
			be.GELU(x)
		}
	})
	b.Run("Softmax/rows=1536,cols=128", func(b *testing.B) { // 12 heads × 128 queries
		const rows, cols = 1536, 128
		x := make([]float32, rows*cols)
		fillUniform(r, x, 3)
		orig := append([]float32(nil), x...)
		for b.Loop() {
			copy(x, orig)
			be.Softmax(x, rows, cols)
		}
	})
	b.Run("LayerNorm/rows=128,cols=768", func(b *testing.B) {
		const rows, cols = 128, 768
		x := make([]float32, rows*cols)
		gamma := make([]float32, cols)
		beta := make([]float32, cols)
		fillUniform(r, x, 2)
		fillUniform(r, gamma, 1)
		fillUniform(r, beta, 1)
		orig := append([]float32(nil), x...)
		for b.Loop() {
			copy(x, orig)
			be.LayerNorm(x, gamma, beta, rows, cols, 1e-12)
		}
	})
}
