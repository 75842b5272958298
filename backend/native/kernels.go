package native

import (
	"fmt"
	"math"
)

// parallelMinFlops is the smallest product worth splitting across
// goroutines: below it, waking a goroutine costs more than it saves.
const parallelMinFlops = 1 << 17

// MatMulT implements backend.Backend: out[m×n] = a[m×k]·w[n×k]ᵀ, or
// out += a·wᵀ when accumulate is true. out must not overlap a or w.
func (b *Backend) MatMulT(out, a, w []float32, m, k, n int, accumulate bool) {
	b.MatMulTStrided(out, n, a, k, w, k, m, k, n, accumulate)
}

// MatMulTStrided implements backend.StridedMultiplier: MatMulT with row
// i of a at a[i·lda:], row j of w at w[j·ldw:] and row i of out at
// out[i·ldo:]. Results are bit-identical to MatMulT on the same rows.
func (b *Backend) MatMulTStrided(out []float32, ldo int, a []float32, lda int, w []float32, ldw int, m, k, n int, accumulate bool) {
	checkDims("MatMulT", m, k, n)
	if lda < k || ldw < k || ldo < n {
		panic(fmt.Sprintf("native.MatMulT: strides lda %d, ldw %d, ldo %d below k %d, k, n %d", lda, ldw, ldo, k, n))
	}
	checkLen("MatMulT", "out", out, strided(m, n, ldo))
	checkLen("MatMulT", "a", a, strided(m, k, lda))
	checkLen("MatMulT", "w", w, strided(n, k, ldw))
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !accumulate {
			for i := range m {
				clear(out[i*ldo : i*ldo+n])
			}
		}
		return
	}
	if b.ks != nil {
		b.matMulSIMD(out, ldo, a, lda, w, ldw, m, k, n, accumulate)
		return
	}
	threads := b.threads
	if 2*m*n*k < parallelMinFlops {
		threads = 1
	}
	b.pool.parallelFor(n, 4, threads, func(j0, j1 int) {
		gemmGo(out, ldo, a, lda, w, ldw, m, k, j0, j1, accumulate)
	})
}

// strided is the length of rows rows of cols values, ld apart.
func strided(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// AddBias implements backend.Backend. bias must not overlap x.
func (b *Backend) AddBias(x, bias []float32, rows, cols int) {
	checkDims("AddBias", rows, cols)
	checkLen("AddBias", "x", x, rows*cols)
	checkLen("AddBias", "bias", bias, cols)
	add := addGo
	if b.ks != nil {
		add = b.ks.elem.add
	}
	bias = bias[:cols]
	for r := range rows {
		add(x[r*cols:r*cols+cols], bias)
	}
}

func addGo(x, b []float32) {
	b = b[:len(x)]
	for i := range x {
		x[i] += b[i]
	}
}

// GELU implements backend.Backend with the exact form
// x/2·(1+erf(x/√2)).
func (b *Backend) GELU(x []float32) {
	if b.ks == nil {
		geluGo(x)
		return
	}
	f := b.ks.elem.gelu
	if len(x) < parallelMinElems {
		f(x)
		return
	}
	b.pool.parallelFor(len(x), geluGrain, b.threads, func(lo, hi int) { f(x[lo:hi]) })
}

func geluGo(x []float32) {
	for i, v := range x {
		f := float64(v)
		x[i] = float32(0.5 * f * (1 + math.Erf(f*(1/math.Sqrt2))))
	}
}

// Tanh implements backend.Backend.
func (b *Backend) Tanh(x []float32) {
	for i, v := range x {
		x[i] = float32(math.Tanh(float64(v)))
	}
}

// ReLU implements backend.Backend. NaN stays NaN.
func (b *Backend) ReLU(x []float32) {
	for i, v := range x {
		if v < 0 {
			x[i] = 0
		}
	}
}

// Softmax implements backend.Backend. Each row's maximum is subtracted
// before exponentiation so large logits cannot overflow. A row whose entries
// are all -Inf (fully masked) becomes all zeros rather than NaN.
func (b *Backend) Softmax(x []float32, rows, cols int) {
	checkDims("Softmax", rows, cols)
	checkLen("Softmax", "x", x, rows*cols)
	if b.serial(rows, cols) {
		if b.ks != nil && b.ks.elem.softmaxRows != nil {
			b.ks.elem.softmaxRows(x[:rows*cols], rows, cols)
			return
		}
		for r := range rows {
			if b.ks != nil {
				b.ks.elem.softmaxRow(x[r*cols : r*cols+cols])
			} else {
				softmaxRowGo(x[r*cols : r*cols+cols])
			}
		}
		return
	}
	b.rows(rows, cols, func(r int) {
		softmaxRowGo(x[r*cols : r*cols+cols])
	}, func(r int) {
		b.ks.elem.softmaxRow(x[r*cols : r*cols+cols])
	})
}

func softmaxRowGo(row []float32) {
	if len(row) == 0 {
		return
	}
	mx := row[0]
	for _, v := range row[1:] {
		if v > mx {
			mx = v
		}
	}
	if math.IsInf(float64(mx), -1) {
		clear(row)
		return
	}
	m := float64(mx)
	var sum float64
	for i, v := range row {
		e := math.Exp(float64(v) - m)
		row[i] = float32(e)
		sum += e
	}
	inv := 1 / sum
	for i, v := range row {
		row[i] = float32(float64(v) * inv)
	}
}

// LayerNorm implements backend.Backend. Mean and variance are computed in
// float64, in two passes, so rows with a large mean lose no precision.
// gamma and beta must not overlap x.
func (b *Backend) LayerNorm(x, gamma, beta []float32, rows, cols int, eps float32) {
	checkDims("LayerNorm", rows, cols)
	checkLen("LayerNorm", "x", x, rows*cols)
	checkLen("LayerNorm", "gamma", gamma, cols)
	checkLen("LayerNorm", "beta", beta, cols)
	if b.serial(rows, cols) {
		for r := range rows {
			if b.ks != nil {
				b.ks.elem.layerNorm(x[r*cols:r*cols+cols], gamma[:cols], beta[:cols], eps)
			} else {
				layerNormRowGo(x[r*cols:r*cols+cols], gamma[:cols], beta[:cols], eps)
			}
		}
		return
	}
	b.rows(rows, cols, func(r int) {
		layerNormRowGo(x[r*cols:r*cols+cols], gamma[:cols], beta[:cols], eps)
	}, func(r int) {
		b.ks.elem.layerNorm(x[r*cols:r*cols+cols], gamma[:cols], beta[:cols], eps)
	})
}

func layerNormRowGo(row, gamma, beta []float32, eps float32) {
	if len(row) == 0 {
		return
	}
	var sum float64
	for _, v := range row {
		sum += float64(v)
	}
	mean := sum / float64(len(row))
	var ss float64
	for _, v := range row {
		d := float64(v) - mean
		ss += d * d
	}
	inv := 1 / math.Sqrt(ss/float64(len(row))+float64(eps))
	gamma = gamma[:len(row)]
	beta = beta[:len(row)]
	for i, v := range row {
		row[i] = float32((float64(v)-mean)*inv)*gamma[i] + beta[i]
	}
}

// serial reports whether rows of cols elements run on one thread: then the
// row kernels are called directly, since the closures rows takes would be
// allocated on every call.
func (b *Backend) serial(rows, cols int) bool {
	return b.threads <= 1 || rows*cols < parallelMinElems
}

// rows runs goRow (pure-Go path) or simdRow for every row, split across
// threads when the input is large.
func (b *Backend) rows(rows, cols int, goRow, simdRow func(r int)) {
	f := simdRow
	if b.ks == nil {
		f = goRow
	}
	threads := b.threads
	if rows*cols < parallelMinElems {
		threads = 1
	}
	if threads <= 1 {
		for r := range rows {
			f(r)
		}
		return
	}
	b.pool.parallelFor(rows, 1, threads, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			f(r)
		}
	})
}
