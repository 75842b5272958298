package native

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type path struct {
	name string
	b    *Backend
}

// paths lists every kernel configuration the tests must cover: the pure-Go
// kernels and each SIMD family this CPU runs, with several thread counts.
func paths() []path {
	ps := []path{{"default", New(Options{})}}
	// The default path runs GOMAXPROCS threads; thread counts beyond it
	// exercise the pool's work sharing.
	threads := []int{1, 3}
	if testing.Short() {
		// Under qemu every configuration costs a minute.
		threads = []int{3}
	}
	for _, th := range threads {
		ps = append(ps, path{fmt.Sprintf("go-t%d", th), New(Options{Threads: th, PureGo: true})})
		for _, ks := range simdKernelSets() {
			b := New(Options{Threads: th})
			b.ks = ks
			ps = append(ps, path{fmt.Sprintf("%s-t%d", ks.name, th), b})
		}
		for _, qs := range int8KernelSets() {
			b := New(Options{Threads: th})
			b.qs = qs
			ps = append(ps, path{fmt.Sprintf("int8-%s-t%d", qs.name, th), b})
		}
		for _, pk := range packedKernelSets() {
			b := New(Options{Threads: th})
			b.ps = pk
			ps = append(ps, path{fmt.Sprintf("packed-%s-t%d", pk.name, th), b})
		}
	}
	return ps
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// refMatMulT is an independent float64 reference, with a bound on the
// float32 rounding error each element may carry.
func refMatMulT(out, a, w []float32, m, k, n int, acc bool) (ref, bound []float64) {
	ref = make([]float64, m*n)
	bound = make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s, abs float64
			for p := range k {
				t := float64(a[i*k+p]) * float64(w[j*k+p])
				s += t
				abs += math.Abs(t)
			}
			if acc {
				s += float64(out[i*n+j])
				abs += math.Abs(float64(out[i*n+j]))
			}
			ref[i*n+j] = s
			bound[i*n+j] = 1e-6*abs*float64(k+2) + 1e-30
		}
	}
	return ref, bound
}

func TestMatMulTShapes(t *testing.T) {
	dims := []int{1, 3, 17, 65}
	shapes := [][3]int{{128, 768, 64}, {8, 384, 1536}, {33, 100, 47}, {6, 16, 16}, {7, 1, 5}}
	for _, m := range dims {
		for _, k := range dims {
			for _, n := range dims {
				shapes = append(shapes, [3]int{m, k, n})
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range paths() {
		b := p.b
		for _, s := range shapes {
			m, k, n := s[0], s[1], s[2]
			for _, acc := range []bool{false, true} {
				// Offsets by one element make the slices unaligned.
				a := randSlice(r, m*k+1)[1:]
				w := randSlice(r, n*k+1)[1:]
				out := randSlice(r, m*n+1)[1:]
				ref, bound := refMatMulT(out, a, w, m, k, n, acc)
				b.MatMulT(out, a, w, m, k, n, acc)
				for i := range ref {
					if d := math.Abs(float64(out[i]) - ref[i]); !(d <= bound[i]) {
						t.Fatalf("%s m=%d k=%d n=%d acc=%v: out[%d]=%g, want %g (bound %g)", p.name, m, k, n, acc, i, out[i], ref[i], bound[i])
					}
				}
			}
		}
	}
}

func TestMatMulTDeterministicAcrossThreads(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range [][3]int{{1, 768, 3072}, {37, 384, 1536}, {128, 3072, 768}, {5, 65, 17}} {
		m, k, n := s[0], s[1], s[2]
		a, w := randSlice(r, m*k), randSlice(r, n*k)
		for _, ks := range append(simdKernelSets(), nil) {
			with := func(th int) *Backend {
				b := New(Options{Threads: th})
				b.ks = ks
				return b
			}
			want := make([]float32, m*n)
			with(1).MatMulT(want, a, w, m, k, n, false)
			for _, th := range []int{2, 3, 4, 7} {
				got := make([]float32, m*n)
				with(th).MatMulT(got, a, w, m, k, n, false)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("kernels %s shape %v threads=%d: out[%d]=%x, 1 thread gives %x", with(1).Kernels(), s, th, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}

func TestMatMulTShortSlicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MatMulT with a short w did not panic")
		}
	}()
	New(Options{}).MatMulT(make([]float32, 4), make([]float32, 4), make([]float32, 3), 2, 2, 2, false)
}

func BenchmarkMatMulT(b *testing.B) {
	for _, p := range []path{{"simd", New(Options{})}, {"purego", New(Options{PureGo: true})}} {
		be := p.b
		for _, s := range [][3]int{{1, 768, 3072}, {8, 768, 768}, {32, 768, 3072}, {128, 768, 3072}} {
			m, k, n := s[0], s[1], s[2]
			r := rand.New(rand.NewPCG(5, 6))
			a, w, out := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
			b.Run(fmt.Sprintf("%s/%dx%dx%d", p.name, m, k, n), func(b *testing.B) {
				for b.Loop() {
					be.MatMulT(out, a, w, m, k, n, false)
				}
				b.ReportMetric(float64(2*m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// a and w are only read, so they may overlap: a·aᵀ (a Gram matrix) and
// operands cut from one buffer must give the reference result.
func TestMatMulTOverlappingInputs(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	buf := randSlice(r, 4096)
	for _, p := range paths() {
		for _, s := range [][3]int{{7, 33, 7}, {13, 64, 21}} {
			m, k, n := s[0], s[1], s[2]
			cases := map[string][2][]float32{
				"same":    {buf[:m*k], buf[:n*k]},
				"shifted": {buf[:m*k], buf[5 : 5+n*k]},
			}
			for name, c := range cases {
				out := make([]float32, m*n)
				ref, bound := refMatMulT(out, c[0], c[1], m, k, n, false)
				p.b.MatMulT(out, c[0], c[1], m, k, n, false)
				for i := range ref {
					if d := math.Abs(float64(out[i]) - ref[i]); !(d <= bound[i]) {
						t.Fatalf("%s %s %v: out[%d]=%g, want %g", p.name, name, s, i, out[i], ref[i])
					}
				}
			}
		}
	}
}

func TestMatMulTDegenerate(t *testing.T) {
	for _, p := range paths() {
		out := []float32{1, 2, 3, 4}
		p.b.MatMulT(out, nil, nil, 2, 0, 2, true)
		if diff := cmp.Diff([]float32{1, 2, 3, 4}, out); diff != "" {
			t.Errorf("%s: k=0 accumulate changed out (-want +got):\n%s", p.name, diff)
		}
		p.b.MatMulT(out, nil, nil, 2, 0, 2, false)
		if diff := cmp.Diff([]float32{0, 0, 0, 0}, out); diff != "" {
			t.Errorf("%s: k=0 did not zero out (-want +got):\n%s", p.name, diff)
		}
		p.b.MatMulT(nil, nil, []float32{1, 2}, 0, 2, 1, false) // m=0: nothing to do
	}
}

func TestMatMulTNegativeDimensionPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MatMulT with m=-1 did not panic")
		}
	}()
	New(Options{}).MatMulT(nil, nil, nil, -1, 2, 2, false)
}

// Every kernel reduces an output with the same addition tree, so a row (or
// column) of the product does not depend on which other rows (or columns)
// are computed with it: one call for 13×11 outputs must match 13·11 calls
// for single outputs bit for bit.
func TestMatMulTBatchInvariant(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const m, n = 13, 11
	for _, k := range []int{5, 64, 100, 1100, 2100} {
		a, w := randSlice(r, m*k), randSlice(r, n*k)
		for _, p := range paths() {
			all := make([]float32, m*n)
			p.b.MatMulT(all, a, w, m, k, n, false)
			for i := range m {
				for j := range n {
					one := []float32{0}
					p.b.MatMulT(one, a[i*k:(i+1)*k], w[j*k:(j+1)*k], 1, k, 1, false)
					if math.Float32bits(one[0]) != math.Float32bits(all[i*n+j]) {
						t.Fatalf("%s k=%d: out[%d,%d] = %x in a %d×%d product, %x alone", p.name, k, i, j, math.Float32bits(all[i*n+j]), m, n, math.Float32bits(one[0]))
					}
				}
			}
		}
	}
}
