package backendtest

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/wrxlabs/wrx/backend"
)

// testConcurrent runs several kernels from several goroutines at once on
// one Backend value, each goroutine on its own data, and checks every
// result. Run it under -race to catch shared scratch buffers.
func testConcurrent(t testingT, b backend.Backend) {
	const goroutines, iters = 4, 4
	lt := lockedT{testingT: t, mu: new(sync.Mutex)}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0x636f6e63))
			for it := range iters {
				what := fmt.Sprintf("goroutine %d, iteration %d", g, it)

				m, k, n := 17, 65+g, 33
				a := make([]float32, m*k)
				w := make([]float32, n*k)
				out := make([]float32, m*n)
				fillUniform(r, a, 1)
				fillUniform(r, w, 1)
				if !call(lt, what, func() { b.MatMulT(out, a, w, m, k, n, false) }) {
					return
				}
				want, tol := matMulRef(a, w, nil, m, k, n)
				checkClose(lt, what+": MatMulT", out, want, tol)

				x := make([]float32, 1000+g)
				geluInputs(r, x)
				want = make([]float64, len(x))
				for j, v := range x {
					want[j] = geluRef(float64(v))
				}
				if !call(lt, what, func() { b.GELU(x) }) {
					return
				}
				checkClose(lt, what+": GELU", x, want, elemTol(want))

				rows, cols := 4, 129
				x = make([]float32, rows*cols)
				for row := range rows {
					softmaxRow(r, x[row*cols:(row+1)*cols], row)
				}
				want = softmaxRef(x, rows, cols)
				if !call(lt, what, func() { b.Softmax(x, rows, cols) }) {
					return
				}
				checkClose(lt, what+": Softmax", x, want, elemTol(want))

				rows, cols = 3, 384
				x = make([]float32, rows*cols)
				gamma := make([]float32, cols)
				beta := make([]float32, cols)
				for row := range rows {
					lnRow(r, x[row*cols:(row+1)*cols], row)
				}
				fillUniform(r, gamma, 2)
				fillUniform(r, beta, 1)
				want, tol = layerNormRef(x, gamma, beta, rows, cols, 1e-12)
				if !call(lt, what, func() { b.LayerNorm(x, gamma, beta, rows, cols, 1e-12) }) {
					return
				}
				checkClose(lt, what+": LayerNorm", x, want, tol)
			}
		})
	}
	wg.Wait()
}
