package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/wrxlabs/wrx/backend"
)

// Int8 matrices (backend.Int8) are multiplied through backend.MatMulInt8. For a
// backend.Int8Multiplier the activations are quantized per row on the fly,
// so the result is compared with the float64 product of a and the
// dequantized weights ŵ under the bound the interface states:
//
//	tol = (sᵢ/2)·Σₚ|ŵ[j][p]|·(1+2⁻¹⁰) + 4u·(|c| + Σₚ|a[i][p]·ŵ[j][p]| + (sᵢ/2)·Σₚ|ŵ[j][p]|)
//
// where sᵢ = (max(0, max aᵢ) − min(0, min aᵢ))/255 is row i's quantization
// step and c the accumulated value. The first term is the activation
// rounding (half a step per value; the factor covers float32 slop in
// computing the step); the second the float32 rescale of an exact int32
// sum. A backend without integer kernels decodes ŵ and must meet the
// MatMulT tolerance. The error against the original float weights adds
// at most (Scale[j]/2)·Σₚ|a[i][p]| (checked for backend.QuantizeInt8 in
// package backend's tests).

// int8Case is one Int8 product.
type int8Case struct {
	m, k, n    int
	accumulate bool
	dist       int // activation distribution, see int8Acts
	seed       uint64
}

func (c int8Case) String() string {
	return fmt.Sprintf("MatMulInt8(int8 %d×%d, m=%d, accumulate=%v, activations %s)", c.n, c.k, c.m, c.accumulate, int8Dists[c.dist])
}

var int8Dists = []string{"normal", "post-GELU", "with outliers", "zero and constant rows"}

// int8Acts fills a (m rows of k) with distribution dist.
func int8Acts(r *rand.Rand, a []float32, m, k, dist int) {
	for i := range a {
		v := r.NormFloat64()
		switch dist {
		case 1: // GELU output: ≥ −0.17, long positive tail
			v = 0.5 * v * (1 + math.Erf(v/math.Sqrt2))
		case 2:
			if r.IntN(64) == 0 {
				v *= 40
			}
		}
		a[i] = float32(v)
	}
	if dist == 3 {
		for i := range m {
			row := a[i*k : (i+1)*k]
			switch i % 3 {
			case 0:
				clear(row)
			case 1:
				for p := range row {
					row[p] = -2.5
				}
			}
		}
	}
}

func int8Cases(short bool) []int8Case {
	var cs []int8Case
	sizes := []int{1, 3, 4, 15, 16, 17, 31, 33, 64, 65, 100}
	idx := 0
	for i, m := range []int{1, 2, 5, 6, 7, 13} {
		for j, k := range sizes {
			for l, n := range sizes {
				if (i+j+l)%3 != 0 {
					continue
				}
				idx++
				cs = append(cs, int8Case{m: m, k: k, n: n, accumulate: idx%2 == 0, dist: idx % 4, seed: uint64(idx)})
			}
		}
	}
	cs = append(cs, int8Case{m: 3, k: 0, n: 5, seed: 1}, int8Case{m: 4, k: 0, n: 17, accumulate: true, seed: 2})
	ms := []int{1, 8, 25, 32, 128}
	if short {
		ms = []int{1, 25}
	}
	for _, m := range ms {
		for _, kn := range bertKN {
			idx++
			cs = append(cs, int8Case{m: m, k: kn[0], n: kn[1], accumulate: idx%2 == 0, dist: idx % 3, seed: uint64(idx)})
		}
	}
	return cs
}

// int8Weights returns a random n×k weight matrix quantized to int8, with
// row scales spread over a few binary orders of magnitude.
func int8Weights(r *rand.Rand, n, k int) *backend.Int8 {
	w := make([]float32, n*k)
	for j := range n {
		s := math.Ldexp(1, r.IntN(7)-3)
		for p := range k {
			w[j*k+p] = float32(r.NormFloat64() * s)
		}
	}
	q, err := backend.QuantizeInt8(w, n, k)
	if err != nil {
		panic(err)
	}
	return q
}

func testMatMulInt8(t testingT, b backend.Backend, short bool) {
	checkInt8Cases(t, b, short, checkInt8)
}

// checkInt8Cases runs check on every integer product shape, stopping
// after maxFailedCases failing ones.
func checkInt8Cases(t testingT, b backend.Backend, short bool, check func(testingT, backend.Backend, int8Case) bool) {
	failed := 0
	for _, c := range int8Cases(short) {
		if !check(t, b, c) {
			failed++
			if failed == maxFailedCases {
				t.Errorf("stopping after %d failing shapes", failed)
				return
			}
		}
	}
}

func checkInt8(t testingT, b backend.Backend, c int8Case) bool {
	t.Helper()
	r := rand.New(rand.NewPCG(c.seed, 0x696e7438))
	w := int8Weights(r, c.n, c.k)
	a := make([]float32, c.m*c.k)
	int8Acts(r, a, c.m, c.k, c.dist)
	aOrig := append([]float32(nil), a...)
	const off, after = 3, 8
	outBuf, out, init := productOut(r, c.m*c.n, off, after, c.accumulate)
	if !call(t, c.String(), func() { backend.MatMulInt8(b, outBuf[off:off+c.m*c.n+after], a, c.m, w, c.accumulate) }) {
		return false
	}
	want, tol := int8Ref(b, a, w, init, c.m)
	ok := checkClose(t, c.String(), out, want, tol)
	ok = checkGuards(t, c.String(), outBuf, off, off+c.m*c.n) && ok
	return checkUnchanged(t, c.String(), "a", a, aOrig) && ok
}

// int8Ref returns init + a·ŵᵀ in float64 and the tolerance for b: the
// bound of the package comment above for an Int8Multiplier, the MatMulT
// one otherwise.
func int8Ref(b backend.Backend, a []float32, w *backend.Int8, init []float32, m int) (want, tol []float64) {
	n, k := w.Dims()
	wd := make([]float32, n*k)
	w.DecodeRows(wd, 0, n)
	want, tol = matMulRef(a, wd, init, m, k, n)
	if _, ok := b.(backend.Int8Multiplier); !ok {
		return want, tol
	}
	for i := range m {
		row := a[i*k : (i+1)*k]
		var lo, hi float64
		for _, v := range row {
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
		}
		half := (hi - lo) / 255 / 2
		for j := range n {
			var absW, absAW float64
			for p, v := range wd[j*k : (j+1)*k] {
				absW += math.Abs(float64(v))
				absAW += math.Abs(float64(v) * float64(row[p]))
			}
			var c float64
			if init != nil {
				c = math.Abs(float64(init[i*n+j]))
			}
			q := half * absW
			tol[i*n+j] = q*(1+1.0/1024) + 4*u*(c+absAW+q)
		}
	}
	return want, tol
}

// testInt8Concurrent multiplies Int8 matrices from several goroutines at
// once on one backend, each on its own data (run under -race).
func testInt8Concurrent(t testingT, b backend.Backend) {
	lt := lockedT{testingT: t, mu: new(sync.Mutex)}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0x71636f6e))
			for it := range 4 {
				c := int8Case{m: 5 + g, k: 100 + 16*it, n: 40 + g, dist: it % 4}
				w := int8Weights(r, c.n, c.k)
				a := make([]float32, c.m*c.k)
				int8Acts(r, a, c.m, c.k, c.dist)
				out := make([]float32, c.m*c.n)
				what := fmt.Sprintf("goroutine %d, iteration %d: %v", g, it, c)
				if !call(lt, what, func() { backend.MatMulInt8(b, out, a, c.m, w, false) }) {
					return
				}
				want, tol := int8Ref(b, a, w, nil, c.m)
				checkClose(lt, what, out, want, tol)
			}
		})
	}
	wg.Wait()
}
