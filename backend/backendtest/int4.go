package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/wrxlabs/wrx/backend"
)

// Int4 matrices (backend.Int4, 4-bit dictionary codes) are multiplied
// through backend.MatMulInt4. For a backend.Int4Multiplier two checks:
//
//   - exactness: the result must equal, bit for bit, the same backend's
//     MatMulInt8 of the equivalent Int8 matrix (Int4.AsInt8) followed by
//     Int4.AddOutliers, which is what the interface promises;
//   - accuracy, against the float64 product with the exact weights
//     (centroids and outliers, as DecodeRows gives them):
//
//     tol = tol₈ + (s/2)·Σₚ|a[i][p]|·(1+2⁻¹⁰) + 4u·o·(|c| + Σₚ|a·ŵ| + Σ_o|a·Δ| + tol₈)
//
//     where tol₈ is MatMulInt8's bound (see int8.go) for the grid weights
//     ŵ = Scale·Q[code], the second term the grid rounding of the
//     centroids (s the grid step, at most s/2 per weight), and the third
//     the float32 additions of the o outliers of row j.
//
// A backend without 4-bit kernels multiplies the exact weights in float32
// and must meet the MatMulT tolerance.

func (c int8Case) int4String() string {
	return fmt.Sprintf("MatMulInt4(int4 %d×%d, m=%d, accumulate=%v, activations %s)", c.n, c.k, c.m, c.accumulate, int8Dists[c.dist])
}

// int4Weights returns a random n×k Int4: 16 ascending centroids around 0
// at a random scale (sometimes all on one side of 0), uniform codes and
// about one outlier in 100 weights.
func int4Weights(r *rand.Rand, n, k int) *backend.Int4 {
	var c [16]float32
	s := math.Ldexp(1, r.IntN(7)-5)
	shift := 0.0
	if r.IntN(4) == 0 {
		shift = 9 // every centroid positive: no code is near zero
	}
	for j := range c {
		c[j] = float32((float64(j) - 7.5 + shift + 0.3*r.NormFloat64()) * s)
	}
	slices.Sort(c[:])
	w, err := backend.NewInt4(nil, n, k, &c)
	if err != nil {
		panic(err)
	}
	if r.IntN(3) == 0 {
		// A table per panel and block of columns, as a fused layer has:
		// all on the grid of the first.
		np, kp := backend.Int8Dims(n, k)
		w.KBlock = 16 * (1 + r.IntN(3))
		nb := (kp + w.KBlock - 1) / w.KBlock
		grid := w.Scale[0]
		for range 3 {
			var c2 [16]float32
			for j := range c2 {
				c2[j] = c[j] * float32(0.5+0.5*r.Float64())
			}
			w.Tables = append(w.Tables, backend.Int4Table{Centroids: c2, Q: backend.Int4GridAt(&c2, grid)})
		}
		w.TableOf = make([]uint16, np/backend.Int8Panel*nb)
		for i := range w.TableOf {
			w.TableOf[i] = uint16(r.IntN(len(w.Tables)))
		}
	}
	for j := range n {
		for p := range k {
			w.SetCode(j, p, byte(r.IntN(16)))
			if r.IntN(100) == 0 {
				w.Outliers = append(w.Outliers, backend.Int4Outlier{Row: int32(j), Col: int32(p), Value: float32(r.NormFloat64() * 40 * s)})
			}
		}
	}
	if err := w.Finish(); err != nil {
		panic(err)
	}
	return w
}

func testMatMulInt4(t testingT, b backend.Backend, short bool) {
	checkInt8Cases(t, b, short, checkInt4)
}

func checkInt4(t testingT, b backend.Backend, c int8Case) bool {
	t.Helper()
	what := c.int4String()
	r := rand.New(rand.NewPCG(c.seed, 0x696e7434))
	w := int4Weights(r, c.n, c.k)
	a := make([]float32, c.m*c.k)
	int8Acts(r, a, c.m, c.k, c.dist)
	aOrig := append([]float32(nil), a...)
	const off, after = 3, 8
	outBuf, out, init := productOut(r, c.m*c.n, off, after, c.accumulate)
	if !call(t, what, func() { backend.MatMulInt4(b, outBuf[off:off+c.m*c.n+after], a, c.m, w, c.accumulate) }) {
		return false
	}
	ok := true
	if _, isInt4 := b.(backend.Int4Multiplier); isInt4 {
		if _, isInt8 := b.(backend.Int8Multiplier); isInt8 {
			same := make([]float32, c.m*c.n)
			copy(same, init)
			backend.MatMulInt8(b, same, a, c.m, w.AsInt8(), c.accumulate)
			w.AddOutliers(same, a, c.m)
			for i := range same {
				if math.Float32bits(same[i]) != math.Float32bits(out[i]) {
					t.Errorf("%s: out[%d] (row %d, col %d) = %v, MatMulInt8 of the equivalent Int8 plus outliers gives %v",
						what, i, i/c.n, i%c.n, out[i], same[i])
					ok = false
					break
				}
			}
		}
	}
	want, tol := int4Ref(b, a, w, init, c.m)
	ok = checkClose(t, what, out, want, tol) && ok
	ok = checkGuards(t, what, outBuf, off, off+c.m*c.n) && ok
	return checkUnchanged(t, what, "a", a, aOrig) && ok
}

// int4Ref returns init + a·wᵀ in float64 with w's exact weights, and the
// tolerance for b (see the comment at the top of this file).
func int4Ref(b backend.Backend, a []float32, w *backend.Int4, init []float32, m int) (want, tol []float64) {
	n, k := w.Dims()
	exact := make([]float32, n*k)
	w.DecodeRows(exact, 0, n)
	want, tol = matMulRef(a, exact, init, m, k, n)
	if _, ok := b.(backend.Int4Multiplier); !ok {
		return want, tol
	}
	grid := make([]float32, n*k)
	w.AsInt8().DecodeRows(grid, 0, n)
	outs := make([][]backend.Int4Outlier, n)
	for _, o := range w.Outliers {
		outs[o.Row] = append(outs[o.Row], o)
	}
	for i := range m {
		row := a[i*k : (i+1)*k]
		var lo, hi, absA float64
		for _, v := range row {
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
			absA += math.Abs(float64(v))
		}
		half := (hi - lo) / 255 / 2
		for j := range n {
			var absW, absAW, absOut float64
			for p, v := range grid[j*k : (j+1)*k] {
				absW += math.Abs(float64(v))
				absAW += math.Abs(float64(v) * float64(row[p]))
			}
			for _, o := range outs[j] {
				absOut += math.Abs(float64(row[o.Col]) * float64(o.Delta))
			}
			var c float64
			if init != nil {
				c = math.Abs(float64(init[i*n+j]))
			}
			q := half * absW
			t8 := q*(1+1.0/1024) + 4*u*(c+absAW+q)
			g := float64(w.Scale[j]) / 2 * absA * (1 + 1.0/1024)
			tol[i*n+j] = t8 + g + 4*u*float64(len(outs[j]))*(c+absAW+absOut+t8)
		}
	}
	return want, tol
}

// testInt4Concurrent multiplies Int4 matrices from several goroutines at
// once on one backend, two of them sharing one matrix (run under -race).
func testInt4Concurrent(t testingT, b backend.Backend) {
	lt := lockedT{testingT: t, mu: new(sync.Mutex)}
	shared := int4Weights(rand.New(rand.NewPCG(9, 9)), 40, 130)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0x71636f34))
			for it := range 4 {
				c := int8Case{m: 3 + g, k: 130, n: 40, dist: it % 4}
				w := shared
				if g >= 2 {
					c.k, c.n = 100+16*it, 33+g
					w = int4Weights(r, c.n, c.k)
				}
				a := make([]float32, c.m*c.k)
				int8Acts(r, a, c.m, c.k, c.dist)
				out := make([]float32, c.m*c.n)
				what := fmt.Sprintf("goroutine %d, iteration %d: %v", g, it, c.int4String())
				if !call(lt, what, func() { backend.MatMulInt4(b, out, a, c.m, w, false) }) {
					return
				}
				want, tol := int4Ref(b, a, w, nil, c.m)
				checkClose(lt, what, out, want, tol)
			}
		})
	}
	wg.Wait()
}
