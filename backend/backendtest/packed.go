package backendtest

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/wrxlabs/wrx/backend"
)

// Packed matrices (backend.Packed) are multiplied through backend.MatMul:
// by a backend.PackedMultiplier's MatMulPacked, otherwise by decoding
// tiles (DecodeRows) and MatMulT. Either way the product is float32
// arithmetic on the exact weights, so the MatMulT tolerance applies:
// tol = 2·√(K+1)·u·(|c| + Σₚ|a[i,p]·w[j,p]|). The shapes include N not a
// multiple of backend.PackedPanel (a partial last panel), K not a multiple
// of 16 (and 0), and M from 1 to 70.

// packedCase is one Packed product.
type packedCase struct {
	m, k, n    int
	accumulate bool
	seed       uint64
}

func (c packedCase) String() string {
	return fmt.Sprintf("MatMul(packed %d×%d, m=%d, accumulate=%v)", c.n, c.k, c.m, c.accumulate)
}

func packedCases(short bool) []packedCase {
	var cs []packedCase
	idx := 0
	ms := []int{1, 2, 3, 5, 6, 7, 8, 11, 12, 13, 14, 15, 16, 17, 23, 25, 29, 31, 45, 64, 66, 70}
	ks := []int{1, 3, 15, 16, 17, 31, 64, 100, 129}
	ns := []int{1, 5, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 80, 100, 130}
	for i, m := range ms {
		for j, k := range ks {
			for l, n := range ns {
				if (i+j+l)%4 != 0 {
					continue
				}
				idx++
				cs = append(cs, packedCase{m: m, k: k, n: n, accumulate: idx%2 == 0, seed: uint64(idx)})
			}
		}
	}
	cs = append(cs, packedCase{m: 3, k: 0, n: 5, seed: 1}, packedCase{m: 4, k: 0, n: 17, accumulate: true, seed: 2},
		packedCase{m: 0, k: 8, n: 17, seed: 3}, packedCase{m: 5, k: 8, n: 0, seed: 4})
	bm := []int{1, 8, 25, 32, 70}
	if short {
		bm = []int{1, 25}
	}
	for _, m := range bm {
		for _, kn := range bertKN {
			idx++
			cs = append(cs, packedCase{m: m, k: kn[0], n: kn[1], accumulate: idx%2 == 0, seed: uint64(idx)})
		}
	}
	return cs
}

func testMatMulPacked(t testingT, b backend.Backend, short bool) {
	failed := 0
	for _, c := range packedCases(short) {
		if !checkPacked(t, b, c) {
			failed++
			if failed == maxFailedCases {
				t.Errorf("stopping after %d failing shapes", failed)
				return
			}
		}
	}
}

// packedInputs returns random activations, a row-major weight matrix and
// the weights packed.
func packedInputs(r *rand.Rand, m, k, n int) (a, w []float32, p *backend.Packed) {
	a = make([]float32, m*k)
	w = make([]float32, n*k)
	fillUniform(r, a, 1)
	fillUniform(r, w, 1)
	p = backend.Pack(&backend.Dense{N: n, K: k, Data: append([]float32(nil), w...)})
	return a, w, p
}

func checkPacked(t testingT, b backend.Backend, c packedCase) bool {
	t.Helper()
	r := rand.New(rand.NewPCG(c.seed, 0x7061636b6564))
	a, w, p := packedInputs(r, c.m, c.k, c.n)
	aOrig := append([]float32(nil), a...)
	pOrig := append([]float32(nil), p.Data...)
	const off, after = 3, 8
	outBuf, out, init := productOut(r, c.m*c.n, off, after, c.accumulate)
	if !call(t, c.String(), func() { backend.MatMul(b, outBuf[off:off+c.m*c.n+after], a, c.m, p, c.accumulate) }) {
		return false
	}
	want, tol := matMulRef(a, w, init, c.m, c.k, c.n)
	ok := checkClose(t, c.String(), out, want, tol)
	ok = checkGuards(t, c.String(), outBuf, off, off+c.m*c.n) && ok
	ok = checkUnchanged(t, c.String(), "w", p.Data, pOrig) && ok
	return checkUnchanged(t, c.String(), "a", a, aOrig) && ok
}

// testPackedConcurrent multiplies Packed matrices from several goroutines
// at once on one backend, each on its own data (run under -race).
func testPackedConcurrent(t testingT, b backend.Backend) {
	lt := lockedT{testingT: t, mu: new(sync.Mutex)}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0x70636f6e))
			for it := range 4 {
				c := packedCase{m: 5 + 7*g, k: 100 + 17*it, n: 40 + 9*g}
				a, w, p := packedInputs(r, c.m, c.k, c.n)
				out := make([]float32, c.m*c.n)
				what := fmt.Sprintf("goroutine %d, iteration %d: %v", g, it, c)
				if !call(lt, what, func() { backend.MatMul(b, out, a, c.m, p, false) }) {
					return
				}
				want, tol := matMulRef(a, w, nil, c.m, c.k, c.n)
				checkClose(lt, what, out, want, tol)
			}
		})
	}
	wg.Wait()
}
