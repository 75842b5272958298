package native

import "math"

// Float32 elementwise math shared by the SIMD paths: the assembly kernels
// implement exactly these formulas, vector-wide, and these scalar versions
// serve CPUs without vector versions and the tails of AVX2 rows.

// Constants of the Cephes expf polynomial, and of the erf approximation
// 7.1.26 of Abramowitz & Stegun (|error| ≤ 1.5e-7).
const (
	log2e = 1.44269504088896341
	ln2hi = 0.693359375
	ln2lo = -2.12194440e-4
	expC0 = 1.9875691500e-4
	expC1 = 1.3981999507e-3
	expC2 = 8.3334519073e-3
	expC3 = 4.1665795894e-2
	expC4 = 1.6666665459e-1
	expC5 = 5.0000001201e-1
	// expLo is ln(2⁻¹²⁶): below it e^w is below the smallest normal float32
	// and expNeg32 returns 0.
	expLo = -87.33654475

	geluClamp = 16

	erfP  = 0.3275911
	erfA1 = 0.254829592
	erfA2 = -0.284496736
	erfA3 = 1.421413741
	erfA4 = -1.453152027
	erfA5 = 1.061405429
)

// expNeg32 returns e^w for w ≤ 0 with a relative error of a few ulp.
func expNeg32(w float32) float32 {
	if !(w >= expLo) {
		return 0
	}
	n := float32(math.RoundToEven(float64(w * log2e)))
	r := w - n*ln2hi
	r -= n * ln2lo
	p := ((((expC0*r+expC1)*r+expC2)*r+expC3)*r+expC4)*r + expC5
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// gelu32 is x·Φ(x) = x/2·(1+erf(x/√2)). With q = 1−erf(|x|/√2), computed
// as a product so it keeps its relative precision when tiny, GELU is
// x − x·q/2 for x ≥ 0 and x·q/2 for x < 0: no cancellation on either side.
func gelu32(x float32) float32 {
	z := float32(math.Abs(float64(x))) * math.Sqrt2 / 2
	t := 1 / (1 + erfP*z)
	q := t * (erfA1 + t*(erfA2+t*(erfA3+t*(erfA4+t*erfA5)))) * expNeg32(-z*z)
	// q is 0 beyond |x| = 14; clamping x there keeps ±Inf·0 out of h.
	h := 0.5 * min(max(x, -geluClamp), geluClamp) * q
	if x >= 0 {
		return x - h
	}
	return h
}

func gelu32Slice(x []float32) {
	for i, v := range x {
		x[i] = gelu32(v)
	}
}

// softmaxRow32 is the float32 softmax of one row; a row of -Inf becomes
// zeros.
func softmaxRow32(row []float32) {
	if len(row) == 0 {
		return
	}
	mx := row[0]
	for _, v := range row[1:] {
		mx = max(mx, v)
	}
	if math.IsInf(float64(mx), -1) {
		clear(row)
		return
	}
	var sum float32
	for i, v := range row {
		e := expNeg32(v - mx)
		row[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range row {
		row[i] *= inv
	}
}

// layerNormRow32 normalises one row in float32, in two passes.
func layerNormRow32(row, gamma, beta []float32, eps float32) {
	if len(row) == 0 {
		return
	}
	var sum float32
	for _, v := range row {
		sum += v
	}
	mean := sum / float32(len(row))
	var ss float32
	for _, v := range row {
		d := v - mean
		ss += d * d
	}
	inv := float32(1 / math.Sqrt(float64(ss/float32(len(row))+eps)))
	gamma = gamma[:len(row)]
	beta = beta[:len(row)]
	for i, v := range row {
		row[i] = (v-mean)*inv*gamma[i] + beta[i]
	}
}
