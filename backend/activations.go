package backend

import (
	"fmt"
	"unsafe"
)

// Int8Activations are M rows of K activations quantized to 8 bits per row
// as Int8Multiplier describes, once, for several integer products that
// share them: in a layer built from shards, the query, key and value
// projections of every head and the FFN up projection of every shard
// multiply the same hidden state. An ActivationQuantizer fills one
// (QuantizeActivations) and multiplies it (MatMulInt8Quantized,
// MatMulInt4Quantized) with results bit for bit those of MatMulInt8 and
// MatMulInt4 on the rows A.
//
// Its buffers grow on demand and are then reused, so quantizing again
// into the same value allocates nothing; SetBuffer places them in the
// caller's memory instead. An Int8Activations is not safe for concurrent
// use while it is being quantized; once quantized, products may read it
// from any number of goroutines.
type Int8Activations struct {
	// M and K are the rows and columns quantized; KP is K rounded up to
	// a multiple of Int8KAlign, the stride of X's rows.
	M, K, KP int
	// Form says how X and Corr are stored; ActivationsFloat means that
	// nothing is quantized yet, only A is set (SetRows).
	Form ActivationForm
	// X holds row i at X[i·KP : i·KP+K] and zeros up to (i+1)·KP.
	X []byte
	// Scale[i] is row i's step s and Corr[i] its zero-point correction
	// (see ActivationForm).
	Scale []float32
	Corr  []int32
	// A are the float32 rows quantized, M×K: a view of the caller's
	// slice, not a copy (products read it to correct Int4 outliers, and
	// backends that cannot take X multiply it instead). They must not
	// change while the quantized values are used.
	A []float32
}

// ActivationForm is how Int8Activations store a quantized row: each value
// a is stored as x = clamp(round(a/s) + z, 0, 255) for the row's step s
// and zero point z (see Int8Multiplier), either as x or as x − 128, and
// Corr is chosen so that Σₚ xₚ·qₚ + Corr·Σₚ qₚ = Σₚ (x − z)ₚ·qₚ for any
// integer weights q.
type ActivationForm uint8

const (
	// ActivationsFloat: not quantized; only A, M, K and KP are set.
	ActivationsFloat ActivationForm = iota
	// ActivationsUnsigned: X holds x and Corr = −z, for kernels that
	// multiply unsigned activation bytes by signed weights (such as
	// x86's VPDPBUSD and TDPBUSD).
	ActivationsUnsigned
	// ActivationsSigned: X holds the bits of the int8 x − 128 and
	// Corr = 128 − z, for kernels that multiply signed bytes (such as
	// arm64's SDOT).
	ActivationsSigned
)

// ActivationQuantizer is implemented by backends whose integer kernels
// can take activations quantized once for several products
// (Int8Activations). MatMulInt8Quantized(out, x, w, acc) after
// QuantizeActivations(x, a, m, k) gives, bit for bit, MatMulInt8(out, a,
// m, w, acc), and MatMulInt4Quantized MatMulInt4's; they take x in any
// state: one not quantized (ActivationsFloat) or in another backend's form
// is quantized into the call's scratch from x.A, without changing x.
type ActivationQuantizer interface {
	Int8Multiplier
	Int4Multiplier
	// QuantizeActivations quantizes the m×k rows a into dst, reusing its
	// buffers when they are large enough; dst keeps a view of a.
	QuantizeActivations(dst *Int8Activations, a []float32, m, k int)
	// MatMulInt8Quantized computes out[x.M×w.N] = x·ŵᵀ, or adds it to out
	// when accumulate is true, as Int8Multiplier.MatMulInt8 does.
	MatMulInt8Quantized(out []float32, x *Int8Activations, w *Int8, accumulate bool)
	// MatMulInt4Quantized is MatMulInt8Quantized for an Int4 matrix, as
	// Int4Multiplier.MatMulInt4 (outliers included).
	MatMulInt4Quantized(out []float32, x *Int8Activations, w *Int4, accumulate bool)
}

// SetRows makes x stand for the m×k rows a, not quantized
// (ActivationsFloat): MatMulInt8Quantized and MatMulInt4Quantized, the
// functions, quantize them on their first integer product and reuse them
// for the next ones. Call it again whenever a's values change.
func (x *Int8Activations) SetRows(a []float32, m, k int) {
	_, kp := Int8Dims(0, k)
	x.M, x.K, x.KP, x.A, x.Form = m, k, kp, a, ActivationsFloat
}

// Int8ActivationsSize is how many float32 values the quantized rows,
// scales and corrections of m rows of k activations take: what a buffer
// given to SetBuffer needs.
func Int8ActivationsSize(m, k int) int {
	_, kp := Int8Dims(0, k)
	return (m*kp+3)/4 + 2*m
}

// SetBuffer makes x keep its quantized rows, scales and corrections in
// buf, so that quantizing up to m rows of k activations (buf holding at
// least Int8ActivationsSize(m, k) values) allocates nothing and uses
// memory the caller accounts for, such as a pass's activations. x owns
// buf from then on; x is left not quantized. It fails if buf is too
// small.
func (x *Int8Activations) SetBuffer(buf []float32, m, k int) error {
	if m < 0 || k < 0 || k > MaxInt8K {
		return fmt.Errorf("backend: int8 activations %d×%d: dimensions out of range (K ≤ %d)", m, k, MaxInt8K)
	}
	need := Int8ActivationsSize(m, k)
	if len(buf) < need {
		return fmt.Errorf("backend: int8 activations %d×%d: buffer of %d values, want %d", m, k, len(buf), need)
	}
	_, kp := Int8Dims(0, k)
	x.Scale = buf[:0:m]
	x.Corr = int32View(buf[m : 2*m])[:0]
	x.X = byteView(buf[2*m : need])[: 0 : m*kp]
	x.Form, x.A = ActivationsFloat, nil
	return nil
}

// int32View and byteView reinterpret float32 storage, which has the
// size and alignment both need.
func int32View(f []float32) []int32 {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(f))), len(f))
}

func byteView(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*len(f))
}

// MatMulInt8Quantized is MatMulInt8(b, out, x.A, x.M, w, accumulate), bit
// for bit, with the activations quantized once: when b is an
// ActivationQuantizer and w has an Int8 form, x is quantized by b unless
// it already is (so the products after the first reuse it) and
// multiplied by b.MatMulInt8Quantized; a matrix with no Int8 form goes to
// MatMulInt4Quantized.
func MatMulInt8Quantized(b Backend, out []float32, x *Int8Activations, w Matrix, accumulate bool) {
	aq, ok := b.(ActivationQuantizer)
	if !ok {
		MatMulInt8(b, out, x.A, x.M, w, accumulate)
		return
	}
	if q, ok := w.(Int8Matrix); ok {
		if qm := q.Int8(); qm != nil {
			quantizeOnce(aq, x)
			aq.MatMulInt8Quantized(out, x, qm, accumulate)
			return
		}
	}
	MatMulInt4Quantized(b, out, x, w, accumulate)
}

// MatMulInt4Quantized is MatMulInt4(b, out, x.A, x.M, w, accumulate), bit
// for bit, with the activations quantized once: when b is an
// ActivationQuantizer and w has an Int4 form, x is quantized by b unless
// it already is and multiplied by b.MatMulInt4Quantized; a matrix with no
// integer form is multiplied in float32 (MatMul of x.A), and x is left
// as it is.
func MatMulInt4Quantized(b Backend, out []float32, x *Int8Activations, w Matrix, accumulate bool) {
	aq, ok := b.(ActivationQuantizer)
	if !ok {
		MatMulInt4(b, out, x.A, x.M, w, accumulate)
		return
	}
	if q, ok := w.(Int4Matrix); ok {
		if qm := q.Int4(); qm != nil {
			quantizeOnce(aq, x)
			aq.MatMulInt4Quantized(out, x, qm, accumulate)
			return
		}
	}
	MatMul(b, out, x.A, x.M, w, accumulate)
}

// quantizeOnce quantizes x's rows with aq unless they already are.
func quantizeOnce(aq ActivationQuantizer, x *Int8Activations) {
	if x.Form == ActivationsFloat {
		aq.QuantizeActivations(x, x.A, x.M, x.K)
	}
}
