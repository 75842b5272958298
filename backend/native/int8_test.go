package native

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/wrxlabs/wrx/backend"
)

// TestInt8BitIdentical checks that every int8 kernel set gives the pure-Go
// kernels' results bit for bit (integer sums are exact and every kernel
// applies the same float32 epilogue), on shapes that exercise every tile
// height and panel count, partial panels, K padding and both forms of the
// activations, with 1 and 3 threads.
func TestInt8BitIdentical(t *testing.T) {
	sets := int8KernelSets()
	if len(sets) == 0 {
		t.Skip("no int8 SIMD kernels on this CPU")
	}
	ref := New(Options{PureGo: true, Threads: 1})
	shapes := [][3]int{{1, 1, 1}, {1, 16, 16}, {2, 17, 33}, {3, 48, 64}, {5, 64, 80}, {6, 100, 95}, {7, 384, 129},
		{11, 31, 200}, {13, 384, 1152}, {25, 1536, 384}, {25, 384, 1536}, {32, 96, 48}, {128, 384, 384}}
	if testing.Short() {
		shapes = shapes[:9]
	}
	for _, qs := range sets {
		for _, th := range []int{1, 3} {
			b := New(Options{Threads: th})
			b.qs = qs
			for i, s := range shapes {
				m, k, n := s[0], s[1], s[2]
				r := rand.New(rand.NewPCG(uint64(i), 7))
				wf := make([]float32, n*k)
				for j := range wf {
					wf[j] = float32(r.NormFloat64())
				}
				w, err := backend.QuantizeInt8(wf, n, k)
				if err != nil {
					t.Fatal(err)
				}
				// Weights of -128, which QuantizeInt8 never writes but
				// every kernel must still multiply exactly.
				q := make([]int8, k)
				for _, j := range []int{0, n / 2} {
					w.Row(q, j)
					q[k-1] = -128
					w.SetRow(j, q, w.Scale[j])
				}
				a := make([]float32, m*k)
				for j := range a {
					a[j] = float32(r.NormFloat64() * math.Ldexp(1, j%5))
				}
				for _, acc := range []bool{false, true} {
					want := make([]float32, m*n)
					got := make([]float32, m*n)
					for j := range want {
						want[j] = float32(j % 7)
						got[j] = want[j]
					}
					ref.MatMulInt8(want, a, m, w, acc)
					b.MatMulInt8(got, a, m, w, acc)
					for j := range want {
						if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
							t.Fatalf("%s, %d threads, m=%d k=%d n=%d acc=%v: out[%d] (row %d col %d) = %v, Go kernels give %v",
								qs.name, th, m, k, n, acc, j, j/n, j%n, got[j], want[j])
						}
					}
				}
			}
		}
	}
}

// TestInt8QuantRow checks the SIMD activation quantizers against the Go
// formula on rows with ties, zeros, constant rows and large ranges.
func TestInt8QuantRow(t *testing.T) {
	for _, qs := range int8KernelSets() {
		for i, k := range []int{1, 15, 16, 17, 64, 100, 384} {
			r := rand.New(rand.NewPCG(uint64(i), 9))
			a := make([]float32, k)
			for j := range a {
				switch j % 4 {
				case 0:
					a[j] = float32(r.NormFloat64())
				case 1:
					a[j] = float32(r.IntN(9)-4) / 2 // ties at some scales
				case 2:
					a[j] = 0
				default:
					a[j] = float32(r.NormFloat64() * 1000)
				}
			}
			kp := (k + 15) &^ 15
			got, want := make([]byte, kp), make([]byte, kp)
			gs, gc := quantRow(qs, got, a)
			ws, wc := quantRow(goInt8, want, a)
			if qs.signed {
				wc += 128
				for j := range want[:k] {
					want[j] ^= 0x80
				}
			}
			if gs != ws || gc != wc || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s, k=%d: scale %v corr %d bytes %v; Go gives %v %d %v", qs.name, k, gs, gc, got, ws, wc, want)
			}
		}
	}
}

// BenchmarkInt8 times MatMulInt8 against MatMulT at the shapes of
// wrx-sst2-small for a 25-token sentence, on one thread.
func BenchmarkInt8(b *testing.B) {
	for _, s := range [][3]int{{25, 384, 1152}, {25, 384, 384}, {25, 384, 1536}, {25, 1536, 384}, {1, 384, 1536}, {128, 384, 1536}} {
		m, k, n := s[0], s[1], s[2]
		r := rand.New(rand.NewPCG(1, 2))
		wf := make([]float32, n*k)
		a := make([]float32, m*k)
		for j := range wf {
			wf[j] = float32(r.NormFloat64())
		}
		for j := range a {
			a[j] = float32(r.NormFloat64())
		}
		w, _ := backend.QuantizeInt8(wf, n, k)
		out := make([]float32, m*n)
		for _, qs := range append(int8KernelSets(), goInt8) {
			be := New(Options{Threads: 1})
			be.qs = qs
			b.Run(fmt.Sprintf("int8-%s/m%d_k%d_n%d", qs.name, m, k, n), func(b *testing.B) {
				for b.Loop() {
					be.MatMulInt8(out, a, m, w, false)
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
			})
			if qs == goInt8 {
				break
			}
		}
		be := New(Options{Threads: 1})
		b.Run(fmt.Sprintf("fp32-%s/m%d_k%d_n%d", be.Kernels(), m, k, n), func(b *testing.B) {
			for b.Loop() {
				be.MatMulT(out, a, wf, m, k, n, false)
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
		})
	}
}

// BenchmarkInt8Model multiplies the 24 weight matrices of wrx-sst2-small
// (6 layers of QKV, output, FFN up and down, 10.6 MB at int8: more than L2
// holds) for one 25-token sentence per iteration, as the held model does.
func BenchmarkInt8Model(b *testing.B) {
	const m = 25
	shapes := [][2]int{{384, 1152}, {384, 384}, {384, 1536}, {1536, 384}}
	r := rand.New(rand.NewPCG(3, 4))
	var ws []*backend.Int8
	macs := 0
	for range 6 {
		for _, s := range shapes {
			k, n := s[0], s[1]
			wf := make([]float32, n*k)
			for j := range wf {
				wf[j] = float32(r.NormFloat64())
			}
			w, _ := backend.QuantizeInt8(wf, n, k)
			ws = append(ws, w)
			macs += m * n * k
		}
	}
	a := make([]float32, m*1536)
	for j := range a {
		a[j] = float32(r.NormFloat64())
	}
	out := make([]float32, m*1536)
	for _, qs := range int8KernelSets() {
		be := New(Options{Threads: 1})
		be.qs = qs
		b.Run(qs.name, func(b *testing.B) {
			for b.Loop() {
				for _, w := range ws {
					be.MatMulInt8(out, a, m, w, false)
				}
			}
			b.ReportMetric(2*float64(macs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
		})
	}
}
