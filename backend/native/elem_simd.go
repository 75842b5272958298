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
	layerNorm  func(row, gamma, beta []float32, eps float32)
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
