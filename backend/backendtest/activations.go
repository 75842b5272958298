package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"unsafe"

	"github.com/wrxlabs/wrx/backend"
)

// Activations quantized once (backend.Int8Activations) are multiplied
// through backend.MatMulInt8Quantized and MatMulInt4Quantized, which must
// give, bit for bit, the one-call products MatMulInt8 and MatMulInt4 of
// the same backend on the same rows: the same quantization, the same
// kernels. On every int8 product shape, one Int8Activations value (kept
// from shape to shape, as a pass keeps it) is multiplied by an Int8, an
// Int4, another Int8 and a Dense matrix in turn; the rows are then
// changed in place and multiplied again (Int8, Int4), as a pass's hidden
// state is after SetRows. For
// a backend.ActivationQuantizer the suite also checks that the products
// quantize once, take activations not yet quantized or quantized in
// another form, and that SetBuffer's memory is used as it is.

// quantizedOnce wraps an ActivationQuantizer to count its quantizations.
type quantizedOnce struct {
	backend.Backend
	backend.ActivationQuantizer
	n int
}

func (q *quantizedOnce) QuantizeActivations(dst *backend.Int8Activations, a []float32, m, k int) {
	q.n++
	q.ActivationQuantizer.QuantizeActivations(dst, a, m, k)
}

func testQuantizedOnce(t testingT, b backend.Backend, short bool) {
	var x backend.Int8Activations
	failed := 0
	_, isAQ := b.(backend.ActivationQuantizer)
	for _, c := range int8Cases(short) {
		if !isAQ && c.m*c.k*c.n > 1<<17 {
			// Without the capability the products fall back to the
			// one-call ones: the odd shapes check that.
			continue
		}
		if !checkQuantizedOnce(t, b, &x, c) {
			failed++
			if failed == maxFailedCases {
				t.Errorf("stopping after %d failing shapes", failed)
				return
			}
		}
	}
}

func (c int8Case) quantizedString() string {
	return fmt.Sprintf("quantized once (%d×%d, activations %s)", c.m, c.k, int8Dists[c.dist])
}

// checkQuantizedOnce runs the products of one shape into x.
func checkQuantizedOnce(t testingT, b backend.Backend, x *backend.Int8Activations, c int8Case) bool {
	t.Helper()
	r := rand.New(rand.NewPCG(c.seed, 0x61637473))
	m, k := c.m, c.k
	a := make([]float32, m*k)
	int8Acts(r, a, m, k, c.dist)
	// Products of other widths share the rows, as Q, K, V and FFN up do.
	ws := []backend.Matrix{int8Weights(r, c.n, k), int4Weights(r, c.n/2+5, k), int8Weights(r, c.n+3, k), denseWeights(r, 7, k)}
	counted := b
	var qo *quantizedOnce
	if aq, ok := b.(backend.ActivationQuantizer); ok {
		qo = &quantizedOnce{Backend: b, ActivationQuantizer: aq}
		counted = qo
	}
	ok := true
	for round := range 2 {
		if round == 1 {
			// New values in the same rows: a pass's hidden state after a
			// layer half.
			int8Acts(r, a, m, k, (c.dist+1)%len(int8Dists))
		}
		aOrig := append([]float32(nil), a...)
		x.SetRows(a, m, k)
		for i, w := range ws {
			if round == 1 && i >= 2 {
				break // the second round checks requantizing; two products do
			}
			acc := c.accumulate != (i%2 == 1)
			// The int8 entry point on every matrix but the Int4 one, which
			// goes through the 4-bit entry point; both reach the other
			// forms too.
			viaInt8 := i != 1
			n, _ := w.Dims()
			what := fmt.Sprintf("%s, round %d, product %d (%s %d×%d, accumulate=%v)", c.quantizedString(), round, i, matrixKind(w), n, k, acc)
			ok = checkQuantizedProduct(t, counted, what, r, x, w, acc, viaInt8) && ok
		}
		ok = checkUnchanged(t, c.quantizedString(), "a", a, aOrig) && ok
		if qo != nil {
			// The Dense product needs no quantization; the integer ones
			// share one, unless K is 0 and they have nothing to multiply.
			if qo.n != 1 && k > 0 && m > 0 {
				t.Errorf("%s, round %d: %d quantizations for the products of one set of rows, want 1", c.quantizedString(), round, qo.n)
				ok = false
			}
			qo.n = 0
		}
	}
	// The states are checked on the odd shapes (m = 1, odd k among
	// them); the BERT-shaped ones would only make the suite slower.
	if aq, isAQ := b.(backend.ActivationQuantizer); isAQ && ok && m*k*c.n <= 1<<17 {
		ok = checkQuantizerStates(t, aq, c, r, a, ws[0].(*backend.Int8), ws[1].(*backend.Int4))
	}
	return ok
}

func matrixKind(w backend.Matrix) string {
	switch w.(type) {
	case *backend.Int8:
		return "int8"
	case *backend.Int4:
		return "int4"
	}
	return "dense"
}

// denseWeights returns a random n×k float32 matrix.
func denseWeights(r *rand.Rand, n, k int) *backend.Dense {
	d := &backend.Dense{N: n, K: k, Data: make([]float32, n*k)}
	fillUniform(r, d.Data, 1)
	return d
}

// checkQuantizedProduct multiplies x by w through the quantized-once
// entry point (viaInt8: MatMulInt8Quantized, else MatMulInt4Quantized)
// and compares it bit for bit with the one-call product of x.A.
func checkQuantizedProduct(t testingT, b backend.Backend, what string, r *rand.Rand, x *backend.Int8Activations, w backend.Matrix, acc, viaInt8 bool) bool {
	t.Helper()
	m := x.M
	n, _ := w.Dims()
	const off, after = 5, 7
	outBuf, out, init := productOut(r, m*n, off, after, acc)
	want := make([]float32, m*n)
	if init != nil {
		copy(want, init)
	} else {
		copy(want, out) // NaN: the one-call product must overwrite it too
	}
	if !call(t, what, func() {
		if viaInt8 {
			backend.MatMulInt8Quantized(b, outBuf[off:off+m*n+after], x, w, acc)
		} else {
			backend.MatMulInt4Quantized(b, outBuf[off:off+m*n+after], x, w, acc)
		}
	}) {
		return false
	}
	if !call(t, what+" (the one-call product)", func() {
		if viaInt8 {
			backend.MatMulInt8(b, want, x.A, m, w, acc)
		} else {
			backend.MatMulInt4(b, want, x.A, m, w, acc)
		}
	}) {
		return false
	}
	ok := checkSameBits(t, what, out, want, n)
	return checkGuards(t, what, outBuf, off, off+m*n) && ok
}

// checkSameBits reports the first element of got (rows of n) that differs
// from want in its bits.
func checkSameBits(t testingT, what string, got, want []float32, n int) bool {
	t.Helper()
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Errorf("%s: out[%d] (row %d, col %d) = %v, differs from the one-call product's %v", what, i, i/n, i%n, got[i], want[i])
			return false
		}
	}
	return true
}

// checkQuantizerStates checks an ActivationQuantizer's own methods:
// QuantizeActivations' result (dimensions, form, zero padding, reuse of
// SetBuffer's memory, rows changed in place quantized again), and that
// its products take rows not yet quantized, or quantized in the other
// form, by quantizing them apart and leaving x as it is.
func checkQuantizerStates(t testingT, aq backend.ActivationQuantizer, c int8Case, r *rand.Rand, a []float32, w8 *backend.Int8, w4 *backend.Int4) bool {
	t.Helper()
	m, k := c.m, c.k
	what := c.quantizedString()
	_, kp := backend.Int8Dims(0, k)
	// Room for one row more than needed: a quantization must fit in
	// SetBuffer's memory, not reallocate it.
	buf := make([]float32, backend.Int8ActivationsSize(m+1, k))
	var x backend.Int8Activations
	if err := x.SetBuffer(buf, m+1, k); err != nil {
		t.Errorf("%s: SetBuffer: %v", what, err)
		return false
	}
	// Garbage where the padding goes: quantizing must clear it.
	for i := range buf {
		buf[i] = math.Float32frombits(0xa5a5a5a5)
	}
	if !call(t, what+": QuantizeActivations", func() { aq.QuantizeActivations(&x, a, m, k) }) {
		return false
	}
	if x.M != m || x.K != k || x.KP != kp || x.Form == backend.ActivationsFloat || len(x.X) < m*kp || len(x.Scale) < m || len(x.Corr) < m {
		t.Errorf("%s: QuantizeActivations gave M, K, KP = %d, %d, %d, form %d, %d bytes, %d scales, %d corrections; want %d, %d, %d, quantized, at least %d, %d, %d",
			what, x.M, x.K, x.KP, x.Form, len(x.X), len(x.Scale), len(x.Corr), m, k, kp, m*kp, m, m)
		return false
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	hi := lo + 4*uintptr(len(buf))
	for _, p := range []unsafe.Pointer{unsafe.Pointer(unsafe.SliceData(x.X)), unsafe.Pointer(unsafe.SliceData(x.Scale)), unsafe.Pointer(unsafe.SliceData(x.Corr))} {
		if m*kp > 0 && (uintptr(p) < lo || uintptr(p) >= hi) {
			t.Errorf("%s: QuantizeActivations moved the buffers SetBuffer placed (%d rows of %d fit)", what, m+1, k)
			return false
		}
	}
	for i := range m {
		for p := k; p < kp; p++ {
			if x.X[i*kp+p] != 0 {
				t.Errorf("%s: QuantizeActivations left padding byte %d of row %d at %#x, want 0", what, p, i, x.X[i*kp+p])
				return false
			}
		}
	}
	n8, _ := w8.Dims()
	n4, _ := w4.Dims()
	product := func(name string, x *backend.Int8Activations, viaInt8 bool) bool {
		n := n4
		if viaInt8 {
			n = n8
		}
		got, want := make([]float32, m*n), make([]float32, m*n)
		if !call(t, what+": "+name, func() {
			if viaInt8 {
				aq.MatMulInt8Quantized(got, x, w8, false)
				aq.MatMulInt8(want, a, m, w8, false)
			} else {
				aq.MatMulInt4Quantized(got, x, w4, false)
				aq.MatMulInt4(want, a, m, w4, false)
			}
		}) {
			return false
		}
		return checkSameBits(t, what+": "+name, got, want, n)
	}
	ok := product("MatMulInt8Quantized", &x, true) && product("MatMulInt4Quantized", &x, false)

	// New values in the same rows, quantized again into x.
	for i := range a {
		a[i] = -2 * a[i]
	}
	if !call(t, what+": QuantizeActivations again", func() { aq.QuantizeActivations(&x, a, m, k) }) {
		return false
	}
	ok = ok && product("MatMulInt8Quantized of rows changed in place and quantized again", &x, true)

	// Not quantized: the product quantizes apart and leaves x alone.
	var f backend.Int8Activations
	f.SetRows(a, m, k)
	ok = ok && product("MatMulInt4Quantized of rows not quantized", &f, false)
	if f.Form != backend.ActivationsFloat || f.X != nil {
		t.Errorf("%s: MatMulInt4Quantized of rows not quantized changed them to form %d, %d bytes", what, f.Form, len(f.X))
		ok = false
	}

	// In the other form, with values that are not this backend's: the
	// product must quantize a from x.A instead of reading them.
	other := x
	other.Form = backend.ActivationsSigned
	if x.Form == backend.ActivationsSigned {
		other.Form = backend.ActivationsUnsigned
	}
	other.X = make([]byte, len(x.X))
	for i := range other.X {
		other.X[i] = byte(r.Uint32())
	}
	ok = ok && product("MatMulInt8Quantized of rows in the other form", &other, true)
	return ok
}
