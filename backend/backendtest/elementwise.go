package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/wrxlabs/wrx/backend"
)

// elemTol is the documented tolerance of elementwise kernels and Softmax:
// 1e-5·(1+|want|).
func elemTol(want []float64) []float64 {
	tol := make([]float64, len(want))
	for i, w := range want {
		tol[i] = 1e-5 * (1 + math.Abs(w))
	}
	return tol
}

// unaryLens are the slice lengths the unary kernels run on: empty, tiny,
// around SIMD widths, and large enough for any blocking or parallel split.
var unaryLens = []int{0, 1, 3, 7, 8, 15, 16, 17, 33, 1000, 4099, 65537}

func geluRef(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }
func tanhRef(x float64) float64 { return math.Tanh(x) }
func reluRef(x float64) float64 { return max(0, x) }

// The input generators put special values first, then values whose range
// covers where each function is interesting and beyond.

func geluInputs(r *rand.Rand, x []float32) {
	// The tanh approximation of GELU is off by up to ~5e-4 around |x| ≈ 2–3,
	// so a dense sample of [-6, 6] tells the exact form from it.
	specials := []float32{0, 1, -1, 2.5, -2.5, 1e-6, -1e-6, 20, -20, 80, -80, 1e4, -1e4}
	fillSpecials(r, x, specials, 6)
}

func tanhInputs(r *rand.Rand, x []float32) {
	// Large magnitudes overflow exp-based formulas such as
	// (e^{2x}-1)/(e^{2x}+1) into Inf/Inf = NaN.
	specials := []float32{0, 0.5, -0.5, 1e-6, -1e-6, 9, -9, 20, -20, 50, -50, 100, -100, 1e4, -1e4}
	fillSpecials(r, x, specials, 5)
}

func reluInputs(r *rand.Rand, x []float32) {
	specials := []float32{0, 1e-30, -1e-30, 3, -3, math.MaxFloat32, -math.MaxFloat32}
	fillSpecials(r, x, specials, 10)
}

func fillSpecials(r *rand.Rand, x, specials []float32, scale float64) {
	n := copy(x, specials)
	fillUniform(r, x[n:], scale)
}

// testUnary checks an in-place elementwise kernel against ref.
func testUnary(t testingT, _ backend.Backend, name string, kernel func([]float32), ref func(float64) float64, inputs func(*rand.Rand, []float32)) {
	for i, n := range unaryLens {
		what := fmt.Sprintf("%s(len %d, offset %d)", name, n, 1+i%4)
		r := rand.New(rand.NewPCG(uint64(i), 0x756e617279))
		buf, x := guarded(n, 1+i%4, 8)
		inputs(r, x)
		want := make([]float64, n)
		for j, v := range x {
			want[j] = ref(float64(v))
		}
		if !call(t, what, func() { kernel(x) }) {
			continue
		}
		checkClose(t, what, x, want, elemTol(want))
		checkGuards(t, what, buf, 1+i%4, 1+i%4+n)
	}
}

// rowShapes are the (rows, cols) shapes of the row-wise kernels.
var rowShapes = [][2]int{{1, 1}, {1, 7}, {1, 384}, {3, 1}, {2, 2}, {4, 3}, {5, 17}, {2, 33}, {12, 128}, {3, 129}, {5, 384}, {3, 768}}

func testAddBias(t testingT, b backend.Backend) {
	for i, s := range rowShapes {
		rows, cols := s[0], s[1]
		what := fmt.Sprintf("AddBias(rows=%d, cols=%d)", rows, cols)
		r := rand.New(rand.NewPCG(uint64(i), 0x62696173))
		buf, x := guarded(rows*cols, 1+i%3, 8)
		fillUniform(r, x, 10)
		biasBuf := make([]float32, cols+1)
		bias := biasBuf[1:]
		fillUniform(r, bias, 1)
		biasOrig := append([]float32(nil), bias...)
		want := make([]float64, rows*cols)
		for j, v := range x {
			want[j] = float64(v) + float64(bias[j%cols])
		}
		if !call(t, what, func() { b.AddBias(x, bias, rows, cols) }) {
			continue
		}
		checkClose(t, what, x, want, elemTol(want))
		checkGuards(t, what, buf, 1+i%3, 1+i%3+rows*cols)
		checkUnchanged(t, what, "bias", bias, biasOrig)
	}
}

// softmaxRow fills one row of a Softmax input; the kind cycles over rows so
// every shape with enough rows sees all kinds.
func softmaxRow(r *rand.Rand, row []float32, kind int) {
	switch kind {
	case 0: // attention scores of ordinary size
		fillUniform(r, row, 3)
	case 1: // large magnitudes: exp(80) overflows float32 without max subtraction
		fillUniform(r, row, 80)
		row[0] = 80
	case 2: // masked positions as Hugging Face writes them, plus a large logit
		fillUniform(r, row, 10)
		for j := 1; j < len(row); j += 2 {
			row[j] = -math.MaxFloat32
		}
		row[0] = 85
	case 3: // every position masked: the softmax is uniform
		for j := range row {
			row[j] = -math.MaxFloat32
		}
	case 4: // the additive -1e4 mask of older BERT code, all negative
		fillUniform(r, row, 5)
		for j := range row {
			row[j] -= 1e4
		}
	}
}

const softmaxKinds = 5

func softmaxRef(x []float32, rows, cols int) []float64 {
	want := make([]float64, rows*cols)
	for i := range rows {
		row := x[i*cols : (i+1)*cols]
		m := math.Inf(-1)
		for _, v := range row {
			m = max(m, float64(v))
		}
		var s float64
		for j, v := range row {
			e := math.Exp(float64(v) - m)
			want[i*cols+j] = e
			s += e
		}
		for j := range row {
			want[i*cols+j] /= s
		}
	}
	return want
}

func testSoftmax(t testingT, b backend.Backend) {
	shapes := append([][2]int{{softmaxKinds, 1}, {softmaxKinds, 2}, {2 * softmaxKinds, 129}}, rowShapes...)
	for i, s := range shapes {
		rows, cols := s[0], s[1]
		what := fmt.Sprintf("Softmax(rows=%d, cols=%d)", rows, cols)
		r := rand.New(rand.NewPCG(uint64(i), 0x736f66746d6178))
		off := 1 + i%4
		buf, x := guarded(rows*cols, off, 8)
		for row := range rows {
			softmaxRow(r, x[row*cols:(row+1)*cols], (row+i)%softmaxKinds)
		}
		want := softmaxRef(x, rows, cols)
		if !call(t, what, func() { b.Softmax(x, rows, cols) }) {
			continue
		}
		checkClose(t, what, x, want, elemTol(want))
		checkGuards(t, what, buf, off, off+rows*cols)
	}
}

// lnRow fills one row of a LayerNorm input; the kind cycles over rows.
func lnRow(r *rand.Rand, row []float32, kind int) {
	switch kind {
	case 0: // hidden states of ordinary size
		fillUniform(r, row, 2)
	case 1: // a large common offset: E[x²]−E[x]² in float32 cancels catastrophically
		for j := range row {
			row[j] = float32(1e3 + (2*r.Float64()-1)*1.7)
		}
	case 2: // tiny spread: eps must be added inside the square root
		for j := range row {
			row[j] = float32(0.25 + (2*r.Float64()-1)*1e-3)
		}
	case 3: // all zero: needs eps to avoid 0/0
		clear(row)
	case 4: // large values with both signs
		fillUniform(r, row, 300)
	}
}

const lnKinds = 5

// layerNormRef returns the float64 LayerNorm of x and the tolerance
// documented in the package comment.
func layerNormRef(x, gamma, beta []float32, rows, cols int, eps float32) (want, tol []float64) {
	want = make([]float64, rows*cols)
	tol = make([]float64, rows*cols)
	for i := range rows {
		row := x[i*cols : (i+1)*cols]
		var mean, meanAbs float64
		for _, v := range row {
			mean += float64(v)
			meanAbs += math.Abs(float64(v))
		}
		mean /= float64(cols)
		meanAbs /= float64(cols)
		var variance float64
		for _, v := range row {
			d := float64(v) - mean
			variance += d * d
		}
		variance /= float64(cols)
		sigma := math.Sqrt(variance + float64(eps))
		meanErr := 4 * math.Sqrt(float64(cols)) * u * meanAbs / sigma
		for j, v := range row {
			g := float64(gamma[j])
			y := g*(float64(v)-mean)/sigma + float64(beta[j])
			want[i*cols+j] = y
			tol[i*cols+j] = 1e-5*(1+math.Abs(y)) + meanErr*math.Abs(g)
		}
	}
	return want, tol
}

func testLayerNorm(t testingT, b backend.Backend) {
	shapes := append([][2]int{{lnKinds, 768}, {lnKinds, 384}, {lnKinds, 31}}, rowShapes...)
	for i, s := range shapes {
		for _, eps := range []float32{1e-12, 1e-5} {
			rows, cols := s[0], s[1]
			what := fmt.Sprintf("LayerNorm(rows=%d, cols=%d, eps=%g)", rows, cols, eps)
			r := rand.New(rand.NewPCG(uint64(i), 0x6c6e))
			off := 1 + i%4
			buf, x := guarded(rows*cols, off, 8)
			for row := range rows {
				lnRow(r, x[row*cols:(row+1)*cols], (row+i)%lnKinds)
			}
			gBuf := make([]float32, cols+2)
			bBuf := make([]float32, cols+3)
			gamma, beta := gBuf[2:], bBuf[3:]
			for j := range gamma {
				gamma[j] = float32(0.5 + r.Float64())
				if r.IntN(4) == 0 {
					gamma[j] = -gamma[j]
				}
			}
			fillUniform(r, beta, 1)
			gOrig := append([]float32(nil), gamma...)
			bOrig := append([]float32(nil), beta...)
			want, tol := layerNormRef(x, gamma, beta, rows, cols, eps)
			if !call(t, what, func() { b.LayerNorm(x, gamma, beta, rows, cols, eps) }) {
				continue
			}
			checkClose(t, what, x, want, tol)
			checkGuards(t, what, buf, off, off+rows*cols)
			checkUnchanged(t, what, "gamma", gamma, gOrig)
			checkUnchanged(t, what, "beta", beta, bOrig)
		}
	}
}
