package native

import (
	"math"
	"unsafe"
)

// elemOps are a kernel set's elementwise kernels. Each works on one slice
// or row; Backend splits large inputs across threads.
type elemOps struct {
	add        func(x, b []float32) // x[i] += b[i], len(b) ≥ len(x)
	gelu       func(x []float32)
	softmaxRow func(row []float32)
	// softmaxRows, when set, is softmaxRow over every row of x
	// (rows×cols) in one call, with the same results.
	softmaxRows func(x []float32, rows, cols int)
	layerNorm   func(row, gamma, beta []float32, eps float32)
}

// goElemOps are the scalar float32 versions of the SIMD formulas, for CPUs
// that have SIMD GEMM kernels but no vector elementwise kernels.
var goElemOps = elemOps{add: addGo, gelu: gelu32Slice, softmaxRow: softmaxRow32, layerNorm: layerNormRow32}

// Below these sizes an elementwise call is not split across threads.
const (
	parallelMinElems = 1 << 15
	geluGrain        = 1 << 12 // elements per chunk, a multiple of every vector width
)

// softmaxRowWith is the softmax of one row from three vector primitives.
func softmaxRowWith(row []float32, maxf func(*float32, int) float32, expSubSum func(*float32, int, float32) float32, scale func(*float32, int, float32)) {
	n := len(row)
	if n == 0 {
		return
	}
	p := unsafe.SliceData(row)
	mx := maxf(p, n)
	if math.IsInf(float64(mx), -1) {
		clear(row)
		return
	}
	scale(p, n, 1/expSubSum(p, n, mx))
}

// layerNormWith normalises one row from three vector primitives, in two
// passes over float32 (see backendtest for why that is accurate enough).
func layerNormWith(row, gamma, beta []float32, eps float32, sum func(*float32, int) float32, sumSqDev func(*float32, int, float32) float32, apply func(x, g, b *float32, n int, mean, inv float32)) {
	n := len(row)
	if n == 0 {
		return
	}
	gamma, beta = gamma[:n], beta[:n]
	p := unsafe.SliceData(row)
	mean := sum(p, n) / float32(n)
	v := sumSqDev(p, n, mean) / float32(n)
	inv := float32(1 / math.Sqrt(float64(v)+float64(eps)))
	apply(p, unsafe.SliceData(gamma), unsafe.SliceData(beta), n, mean, inv)
}

// vecPrims are vector kernels that take a count n that is a multiple of
// width (at most 16). ops wraps them into elemOps that accept any length,
// computing the tail beyond the last whole vector with the scalar formulas
// of elem32.go, which the kernels implement. (Running a kernel once more on
// the tail copied into a padded block would hand that block to assembly
// through a function value, and so allocate it on every call.)
type vecPrims struct {
	width     int
	add       func(x, b *float32, n int)
	gelu      func(x *float32, n int)
	max       func(x *float32, n int) float32
	expSubSum func(x *float32, n int, m float32) float32
	scale     func(x *float32, n int, s float32)
	sum       func(x *float32, n int) float32
	sumSqDev  func(x *float32, n int, mean float32) float32
	lnApply   func(x, g, b *float32, n int, mean, inv float32)
}

func (v vecPrims) ops() elemOps {
	w := v.width
	body := func(n int) int { return n / w * w }
	negInf := float32(math.Inf(-1))
	return elemOps{
		add: func(x, b []float32) {
			n := body(len(x))
			if n > 0 {
				v.add(&x[0], &b[0], n)
			}
			b = b[:len(x)]
			for i := n; i < len(x); i++ {
				x[i] += b[i]
			}
		},
		gelu: func(x []float32) {
			n := body(len(x))
			if n > 0 {
				v.gelu(&x[0], n)
			}
			gelu32Slice(x[n:])
		},
		softmaxRow: func(row []float32) {
			softmaxRowWith(row, func(p *float32, n int) float32 {
				b, m := body(n), negInf
				if b > 0 {
					m = v.max(p, b)
				}
				for _, x := range unsafe.Slice(p, n)[b:] {
					m = max(m, x)
				}
				return m
			}, func(p *float32, n int, m float32) float32 {
				b, s := body(n), float32(0)
				if b > 0 {
					s = v.expSubSum(p, b, m)
				}
				t := unsafe.Slice(p, n)[b:]
				for i, x := range t {
					t[i] = expNeg32(x - m)
					s += t[i]
				}
				return s
			}, func(p *float32, n int, s float32) {
				b := body(n)
				if b > 0 {
					v.scale(p, b, s)
				}
				t := unsafe.Slice(p, n)[b:]
				for i := range t {
					t[i] *= s
				}
			})
		},
		layerNorm: func(row, gamma, beta []float32, eps float32) {
			layerNormWith(row, gamma, beta, eps, func(p *float32, n int) float32 {
				b, s := body(n), float32(0)
				if b > 0 {
					s = v.sum(p, b)
				}
				for _, x := range unsafe.Slice(p, n)[b:] {
					s += x
				}
				return s
			}, func(p *float32, n int, mean float32) float32 {
				b, s := body(n), float32(0)
				if b > 0 {
					s = v.sumSqDev(p, b, mean)
				}
				for _, x := range unsafe.Slice(p, n)[b:] {
					d := x - mean
					s += d * d
				}
				return s
			}, func(x, g, bt *float32, n int, mean, inv float32) {
				b := body(n)
				if b > 0 {
					v.lnApply(x, g, bt, b, mean, inv)
				}
				xs, gs, bs := unsafe.Slice(x, n), unsafe.Slice(g, n), unsafe.Slice(bt, n)
				for i := b; i < n; i++ {
					xs[i] = (xs[i]-mean)*inv*gs[i] + bs[i]
				}
			})
		},
	}
}
