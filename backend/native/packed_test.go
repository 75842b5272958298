package native

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/wrxlabs/wrx/backend"
)

// TestPackedBitIdentical checks that every tile shape and thread count of
// each packed kernel family gives the same bits: every output is one FMA
// chain per K block whichever kernel computes it.
func TestPackedBitIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	shapes := [][3]int{{1, 384, 1152}, {25, 384, 1536}, {66, 1536, 384}, {13, 100, 70}, {7, 17, 33}, {40, 2500, 48}}
	if testing.Short() {
		shapes = shapes[3:5]
	}
	for _, set := range packedKernelSets() {
		var variants []packedKernelSet
		for c := 1; c <= len(set.kern[0]); c++ {
			for rr := len(set.kern); rr >= 1; rr-- {
				if set.kern[rr-1][c-1] != nil {
					v := *set
					v.rows, v.cols = rr, c
					variants = append(variants, v)
					if rr > 4 {
						v.rows = rr / 2
						variants = append(variants, v)
					}
					break
				}
			}
		}
		for _, sh := range shapes {
			m, k, n := sh[0], sh[1], sh[2]
			a := randSlice(r, m*k)
			w := backend.Pack(&backend.Dense{N: n, K: k, Data: randSlice(r, n*k)})
			init := randSlice(r, m*n)
			for _, acc := range []bool{false, true} {
				ref := slices.Clone(init)
				b := New(Options{Threads: 1})
				b.ps = set
				b.MatMulPacked(ref, a, m, w, acc)
				for _, v := range variants {
					for _, th := range []int{1, 2, 3} {
						b := New(Options{Threads: th})
						b.ps = &v
						got := slices.Clone(init)
						b.MatMulPacked(got, a, m, w, acc)
						if i := firstDiff(got, ref); i >= 0 {
							t.Errorf("%s %dx%d, %d threads, %s, acc=%v: out[%d] = %v, want %v bit for bit",
								set.name, v.rows, v.cols, th, fmt.Sprint(sh), acc, i, got[i], ref[i])
						}
					}
				}
			}
		}
	}
}

func firstDiff(a, b []float32) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestPackRoundTrip checks that DecodeRows of a packed matrix gives back
// the rows it was packed from, in place or with padding.
func TestPackRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, sh := range [][2]int{{16, 5}, {17, 3}, {1, 1}, {48, 33}, {5, 0}, {0, 4}} {
		n, k := sh[0], sh[1]
		w := randSlice(r, n*k)
		p := backend.Pack(&backend.Dense{N: n, K: k, Data: slices.Clone(w)})
		got := make([]float32, n*k)
		p.DecodeRows(got, 0, n)
		if !slices.Equal(got, w) {
			t.Errorf("%d×%d: DecodeRows after Pack differs", n, k)
		}
	}
}

// BenchmarkMatMulPacked times the packed product against MatMulT of the
// same weights held Dense, at BERT-small shapes. The weights cycle through
// copies totalling about 48 MB, as a model's layers do, so they come from
// memory rather than L2. Tiles: the default shape and the other
// candidates ("RxC").
func BenchmarkMatMulPacked(b *testing.B) {
	set := New(Options{}).ps
	if set == nil {
		b.Skip("no packed kernels here")
	}
	shapes := []string{fmt.Sprintf("%dx%d", set.rows, set.cols)}
	if testing.Verbose() {
		shapes = append(shapes, "15x1", "14x2", "10x2", "8x3", "6x4")
	}
	for _, s := range [][3]int{{1, 384, 1152}, {8, 384, 1536}, {25, 384, 1152}, {25, 384, 1536}, {25, 1536, 384}, {32, 384, 1536}, {128, 384, 1536}} {
		m, k, n := s[0], s[1], s[2]
		r := rand.New(rand.NewPCG(5, 6))
		copies := max(1, (benchWeightMB<<20)/(4*n*k))
		dense := make([][]float32, copies)
		packed := make([]*backend.Packed, copies)
		for i := range dense {
			dense[i] = randSlice(r, n*k)
			packed[i] = backend.Pack(&backend.Dense{N: n, K: k, Data: slices.Clone(dense[i])})
		}
		a, out := randSlice(r, m*k), make([]float32, m*n)
		be := New(Options{Threads: 1})
		b.Run(fmt.Sprintf("dense/%dx%dx%d", m, k, n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				be.MatMulT(out, a, dense[i], m, k, n, false)
				i = (i + 1) % copies
			}
			b.ReportMetric(float64(2*m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		for _, sh := range shapes {
			v := *set
			fmt.Sscanf(sh, "%dx%d", &v.rows, &v.cols)
			pb := New(Options{Threads: 1})
			pb.ps = &v
			b.Run(fmt.Sprintf("packed%s/%dx%dx%d", sh, m, k, n), func(b *testing.B) {
				i := 0
				for b.Loop() {
					pb.MatMulPacked(out, a, m, packed[i], false)
					i = (i + 1) % copies
				}
				b.ReportMetric(float64(2*m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// benchWeightMB is how much weight memory BenchmarkMatMulPacked cycles
// through.
var benchWeightMB = 48
