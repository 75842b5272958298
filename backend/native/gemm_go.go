package native

// The pure-Go GEMM. Every output element is summed in one float32
// accumulator, k ascending, then added to out when accumulating, whatever
// kernel (2×4, 1×4, 1×1) computes it. That makes the result independent of
// how rows and columns are split into tiles or across goroutines.

// goBlockBytes bounds the slice of W one pass over A re-reads, so it stays in
// L2 while every row pair of A goes by.
const goBlockBytes = 192 << 10

// gemmGo computes columns [j0, j1) of out = a·wᵀ (or out += a·wᵀ), the
// rows of out, a and w ldo, lda and ldw apart.
func gemmGo(out []float32, ldo int, a []float32, lda int, w []float32, ldw int, m, k, j0, j1 int, acc bool) {
	nb := max(4, goBlockBytes/4/max(k, 1)/4*4)
	for jb := j0; jb < j1; jb += nb {
		je := min(jb+nb, j1)
		i := 0
		for ; i+2 <= m; i += 2 {
			gemmGoRows2(out, ldo, a, lda, w, ldw, k, i, jb, je, acc)
		}
		if i < m {
			gemmGoRows1(out, ldo, a, lda, w, ldw, k, i, jb, je, acc)
		}
	}
}

func store(o []float32, j int, v float32, acc bool) {
	if acc {
		o[j] += v
	} else {
		o[j] = v
	}
}

// gemmGoRows2 computes rows i, i+1 and columns [j0, j1) of the product.
func gemmGoRows2(out []float32, ldo int, a []float32, lda int, w []float32, ldw int, k, i, j0, j1 int, acc bool) {
	a0 := a[i*lda : i*lda+k]
	a1 := a[(i+1)*lda : (i+1)*lda+k]
	o0 := out[i*ldo : i*ldo+j1]
	o1 := out[(i+1)*ldo : (i+1)*ldo+j1]
	j := j0
	for ; j+4 <= j1; j += 4 {
		w0 := w[j*ldw : j*ldw+k]
		w1 := w[(j+1)*ldw : (j+1)*ldw+k]
		w2 := w[(j+2)*ldw : (j+2)*ldw+k]
		w3 := w[(j+3)*ldw : (j+3)*ldw+k]
		var s00, s01, s02, s03, s10, s11, s12, s13 float32
		for p, x0 := range a0 {
			x1 := a1[p]
			y0, y1, y2, y3 := w0[p], w1[p], w2[p], w3[p]
			s00 += x0 * y0
			s01 += x0 * y1
			s02 += x0 * y2
			s03 += x0 * y3
			s10 += x1 * y0
			s11 += x1 * y1
			s12 += x1 * y2
			s13 += x1 * y3
		}
		store(o0, j, s00, acc)
		store(o0, j+1, s01, acc)
		store(o0, j+2, s02, acc)
		store(o0, j+3, s03, acc)
		store(o1, j, s10, acc)
		store(o1, j+1, s11, acc)
		store(o1, j+2, s12, acc)
		store(o1, j+3, s13, acc)
	}
	for ; j < j1; j++ {
		wj := w[j*ldw : j*ldw+k]
		var s0, s1 float32
		for p, y := range wj {
			s0 += a0[p] * y
			s1 += a1[p] * y
		}
		store(o0, j, s0, acc)
		store(o1, j, s1, acc)
	}
}

// gemmGoRows1 computes row i and columns [j0, j1) of the product.
func gemmGoRows1(out []float32, ldo int, a []float32, lda int, w []float32, ldw int, k, i, j0, j1 int, acc bool) {
	a0 := a[i*lda : i*lda+k]
	o0 := out[i*ldo : i*ldo+j1]
	j := j0
	for ; j+4 <= j1; j += 4 {
		w0 := w[j*ldw : j*ldw+k]
		w1 := w[(j+1)*ldw : (j+1)*ldw+k]
		w2 := w[(j+2)*ldw : (j+2)*ldw+k]
		w3 := w[(j+3)*ldw : (j+3)*ldw+k]
		var s0, s1, s2, s3 float32
		for p, x := range a0 {
			s0 += x * w0[p]
			s1 += x * w1[p]
			s2 += x * w2[p]
			s3 += x * w3[p]
		}
		store(o0, j, s0, acc)
		store(o0, j+1, s1, acc)
		store(o0, j+2, s2, acc)
		store(o0, j+3, s3, acc)
	}
	for ; j < j1; j++ {
		wj := w[j*ldw : j*ldw+k]
		var s float32
		for p, x := range a0 {
			s += x * wj[p]
		}
		store(o0, j, s, acc)
	}
}
