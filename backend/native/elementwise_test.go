package native

import (
	"math"
	"math/rand/v2"
	"testing"
)

func closeTo(got float32, want, rel, abs float64) bool {
	return math.Abs(float64(got)-want) <= abs+rel*math.Abs(want)
}

func TestElementwise(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, p := range paths() {
		b := p.b
		for _, n := range []int{1, 3, 7, 8, 17, 65, 1000} {
			x := randSlice(r, n+1)[1:]
			for i := range x {
				x[i] *= 4
			}
			for _, tc := range []struct {
				name string
				run  func([]float32)
				ref  func(float64) float64
			}{
				{"GELU", b.GELU, func(v float64) float64 { return v / 2 * (1 + math.Erf(v/math.Sqrt2)) }},
				{"Tanh", b.Tanh, math.Tanh},
				{"ReLU", b.ReLU, func(v float64) float64 { return math.Max(v, 0) }},
			} {
				got := append([]float32(nil), x...)
				tc.run(got)
				for i, v := range x {
					// The SIMD GELU's erf is accurate to 1.5e-7 absolute.
					if want := tc.ref(float64(v)); !closeTo(got[i], want, 1e-6, 1e-6) {
						t.Fatalf("%s %s(%g) = %g, want %g", p.name, tc.name, v, got[i], want)
					}
				}
			}
		}
	}
}

func TestSoftmaxLayerNormAddBias(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, p := range paths() {
		b := p.b
		for _, s := range [][2]int{{1, 1}, {3, 7}, {4, 17}, {8, 128}, {2, 768}} {
			rows, cols := s[0], s[1]
			x := randSlice(r, rows*cols+1)[1:]
			for i := range x {
				x[i] = x[i]*10 + 50 // a large shared offset stresses max-subtraction and the mean
			}
			gamma, beta, bias := randSlice(r, cols), randSlice(r, cols), randSlice(r, cols)

			sm := append([]float32(nil), x...)
			b.Softmax(sm, rows, cols)
			ln := append([]float32(nil), x...)
			b.LayerNorm(ln, gamma, beta, rows, cols, 1e-12)
			ab := append([]float32(nil), x...)
			b.AddBias(ab, bias, rows, cols)
			for i := range rows {
				row := x[i*cols : (i+1)*cols]
				mx, sum, mean, vr := math.Inf(-1), 0.0, 0.0, 0.0
				for _, v := range row {
					mx = math.Max(mx, float64(v))
					mean += float64(v)
				}
				mean /= float64(cols)
				for _, v := range row {
					sum += math.Exp(float64(v) - mx)
					vr += (float64(v) - mean) * (float64(v) - mean)
				}
				vr /= float64(cols)
				for j, v := range row {
					o := i*cols + j
					if want := math.Exp(float64(v)-mx) / sum; !closeTo(sm[o], want, 1e-5, 1e-9) {
						t.Fatalf("%s Softmax %v [%d,%d] = %g, want %g", p.name, s, i, j, sm[o], want)
					}
					want := (float64(v)-mean)/math.Sqrt(vr+1e-12)*float64(gamma[j]) + float64(beta[j])
					if !closeTo(ln[o], want, 1e-5, 1e-5) {
						t.Fatalf("%s LayerNorm %v [%d,%d] = %g, want %g", p.name, s, i, j, ln[o], want)
					}
					if want := float64(v) + float64(bias[j]); !closeTo(ab[o], want, 1e-7, 0) {
						t.Fatalf("%s AddBias %v [%d,%d] = %g, want %g", p.name, s, i, j, ab[o], want)
					}
				}
			}
		}
	}
}

func TestSoftmaxMaskedRow(t *testing.T) {
	inf := float32(math.Inf(-1))
	for _, p := range paths() {
		x := []float32{inf, inf, inf, 1, inf, 1}
		p.b.Softmax(x, 2, 3)
		want := []float32{0, 0, 0, 0.5, 0, 0.5}
		for i := range x {
			if x[i] != want[i] {
				t.Fatalf("%s: Softmax of masked rows = %v, want %v", p.name, x, want)
			}
		}
	}
}

// TestSoftmaxRowsMatchesRowByRow: the softmax of a block of rows, on one
// thread, gives bit for bit what the kernel set's row kernel gives row by
// row, for every tail length, rows of −Inf (cleared) and rows holding
// some. A set with a one-call softmax (softmaxRows) is checked on it; the
// others on Backend.Softmax, which runs their row kernel on each row.
func TestSoftmaxRowsMatchesRowByRow(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	negInf := float32(math.Inf(-1))
	sets := simdKernelSets()
	if len(sets) == 0 {
		t.Skip("this CPU has no SIMD kernel set")
	}
	for _, ks := range sets {
		block := ks.elem.softmaxRows
		if block == nil {
			b := New(Options{Threads: 1})
			b.ks = ks
			block = func(x []float32, rows, cols int) { b.Softmax(x, rows, cols) }
		}
		t.Logf("%s: one-call softmax %v", ks.name, ks.elem.softmaxRows != nil)
		for cols := 1; cols <= 70; cols++ {
			for _, rows := range []int{1, 2, 5} {
				x := randSlice(r, rows*cols)
				for i := range x {
					x[i] = x[i]*20 - 5
				}
				if rows > 1 {
					for j := range cols { // row 1 is all −Inf
						x[cols+j] = negInf
					}
					x[r.IntN(cols)] = negInf // row 0 holds one
				}
				want := append([]float32(nil), x...)
				for i := range rows {
					ks.elem.softmaxRow(want[i*cols : (i+1)*cols])
				}
				// One value past the block, which must stay untouched.
				got := append(append([]float32(nil), x...), 42)
				block(got[:rows*cols], rows, cols)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s: %d×%d: element %d = %g, row by row %g", ks.name, rows, cols, i, got[i], want[i])
					}
				}
				if got[rows*cols] != 42 {
					t.Fatalf("%s: %d×%d: wrote past the block", ks.name, rows, cols)
				}
			}
		}
	}
}
