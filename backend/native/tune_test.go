package native

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

func BenchmarkTune(b *testing.B) {
	if v, err := strconv.Atoi(os.Getenv("KC")); err == nil {
		kcMax = v
	}
	if v, err := strconv.Atoi(os.Getenv("WB")); err == nil {
		wBlockBytes = v << 10
	}
	th, _ := strconv.Atoi(os.Getenv("TH"))
	be := New(Options{Threads: th})
	for _, s := range [][3]int{{128, 768, 3072}, {128, 1536, 384}, {128, 3072, 768}, {32, 3072, 768}, {8, 3072, 768}} {
		m, k, n := s[0], s[1], s[2]
		r := rand.New(rand.NewPCG(5, 6))
		a, w, out := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
		b.Run(fmt.Sprintf("%dx%dx%d", m, k, n), func(b *testing.B) {
			for b.Loop() {
				be.MatMulT(out, a, w, m, k, n, false)
			}
			b.ReportMetric(float64(2*m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
