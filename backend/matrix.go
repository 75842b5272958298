package backend

import "github.com/wrxlabs/wrx/internal/freelist"

// Matrix is a row-major weight matrix of N rows and K columns, stored either
// as plain float32 (Dense) or in an encoded form such as a quantized shard.
// Encoded matrices are multiplied tile by tile (see MatMul), so a whole
// matrix is never expanded to float32.
type Matrix interface {
	// Dims returns the number of rows N (outputs) and columns K (inputs).
	Dims() (n, k int)
	// DecodeRows writes rows [r0, r1) as float32 into dst[(r1-r0)×K].
	DecodeRows(dst []float32, r0, r1 int)
}

// Dense is a float32 Matrix.
type Dense struct {
	N, K int
	Data []float32 // N×K, row-major
}

// Dims implements Matrix.
func (d *Dense) Dims() (n, k int) { return d.N, d.K }

// DecodeRows implements Matrix by copying.
func (d *Dense) DecodeRows(dst []float32, r0, r1 int) {
	copy(dst[:(r1-r0)*d.K], d.Data[r0*d.K:r1*d.K])
}

// DenseMatrix is implemented by matrices that can present themselves as a
// Dense without copying (such as quant's fp32 codec, which views its
// blob's floats), so that MatMul multiplies them without decoding tiles.
// Dense returns nil when the matrix is not held that way.
type DenseMatrix interface {
	Matrix
	Dense() *Dense
}

// tileRows is how many weight rows the generic path decodes at a time. It
// keeps the decoded tile (tileRows×K floats) inside L2 for BERT shapes.
const tileRows = 32

// tiles keeps MatMul's tile buffers between calls, across collections.
var tiles = freelist.List[*[]float32]{Max: 16}

// MatMulScratchBytes is the memory MatMul keeps between calls for the
// products of encoded matrices of up to k columns with up to m rows of
// activations, on one goroutine: its decode tile, which getTile sizes.
func MatMulScratchBytes(m, k int) int64 {
	return 4 * int64(tileRows*k+m*tileRows+128*tileRows)
}

func getTile(need int) *[]float32 {
	b, ok := tiles.Get()
	if !ok {
		b = new([]float32)
	}
	if cap(*b) < need {
		// Room for 128 rows of activations, so that requests of
		// different lengths reuse one tile.
		*b = make([]float32, max(need, need+(128*tileRows)))
	}
	return b
}

// MatMulInt8 is MatMul with integer arithmetic where it is available: when
// w holds int8 weights (an Int8Matrix whose Int8 is not nil) and b is an
// Int8Multiplier, it calls b.MatMulInt8, which quantizes a per row on the
// fly (see Int8Multiplier for the error this adds); otherwise it is
// MatMul, which multiplies w's float32 values.
//
// It multiplies Int4 matrices with integer kernels too (see MatMulInt4).
func MatMulInt8(b Backend, out, a []float32, m int, w Matrix, accumulate bool) {
	if q, ok := w.(Int8Matrix); ok {
		if im, ok := b.(Int8Multiplier); ok {
			if qm := q.Int8(); qm != nil {
				im.MatMulInt8(out, a, m, qm, accumulate)
				return
			}
		}
	}
	MatMulInt4(b, out, a, m, w, accumulate)
}

// MatMulInt4 is MatMul with integer arithmetic for 4-bit dictionary
// weights: when w is an Int4Matrix whose Int4 is not nil and b is an
// Int4Multiplier, it calls b.MatMulInt4 (see Int4 for the error that
// adds); otherwise it is MatMul.
func MatMulInt4(b Backend, out, a []float32, m int, w Matrix, accumulate bool) {
	if q, ok := w.(Int4Matrix); ok {
		if im, ok := b.(Int4Multiplier); ok {
			if qm := q.Int4(); qm != nil {
				im.MatMulInt4(out, a, m, qm, accumulate)
				return
			}
		}
	}
	MatMul(b, out, a, m, w, accumulate)
}

// MatMul computes out[m×n] = a[m×k] · wᵀ (or adds it when accumulate is
// true) for any Matrix, in float32. Dense matrices (and DenseMatrix
// ones that have a Dense) go straight to b.MatMulT, Packed ones to b.MatMulPacked when b is a PackedMultiplier.
// Encoded ones (an Int8 matrix too: MatMulInt8 multiplies those
// with integer kernels) are decoded tileRows rows at a time, each tile
// multiplied with b.MatMulT and scattered into out.
func MatMul(b Backend, out, a []float32, m int, w Matrix, accumulate bool) {
	n, k := w.Dims()
	if d, ok := w.(*Dense); ok {
		b.MatMulT(out, a, d.Data, m, k, n, accumulate)
		return
	}
	if q, ok := w.(DenseMatrix); ok {
		if d := q.Dense(); d != nil {
			b.MatMulT(out, a, d.Data, m, k, n, accumulate)
			return
		}
	}
	if q, ok := w.(PackedMatrix); ok {
		if pm, ok := b.(PackedMultiplier); ok {
			if p := q.Packed(); p != nil {
				pm.MatMulPacked(out, a, m, p, accumulate)
				return
			}
		}
	}
	need := tileRows*k + m*tileRows
	bufp := getTile(need)
	defer tiles.Put(bufp)
	tile, part := (*bufp)[:tileRows*k], (*bufp)[tileRows*k:need]
	for r0 := 0; r0 < n; r0 += tileRows {
		r1 := min(r0+tileRows, n)
		t := r1 - r0
		w.DecodeRows(tile, r0, r1)
		b.MatMulT(part[:m*t], a, tile[:t*k], m, k, t, false)
		for i := range m {
			row := out[i*n+r0 : i*n+r1]
			src := part[i*t : (i+1)*t]
			if accumulate {
				for j, v := range src {
					row[j] += v
				}
			} else {
				copy(row, src)
			}
		}
	}
}
