package backend

import (
	"fmt"
	"math"
)

// The Int8 panel layout. Rows of W (outputs) are grouped into panels of
// Int8Panel rows; inside a panel, K is cut into groups of Int8Group
// consecutive values, and a group of every row of the panel is stored
// together (Int8Panel·Int8Group = 64 bytes). An AVX-512 register then holds
// one group of 16 outputs, an AVX2 register half of it and a NEON register
// a quarter, so a kernel multiplies 16 outputs at once by broadcasting four
// bytes of an activation row, and no kernel needs a horizontal sum.
//
// N is padded with zero rows to a multiple of Int8Panel and K with zero
// columns to a multiple of Int8KAlign (so that a kernel reads whole
// 16-byte vectors of an activation row).
const (
	Int8Panel  = 16
	Int8Group  = 4
	Int8KAlign = 16
)

// Int8Dims returns the padded dimensions of an n×k Int8 matrix: n rounded
// up to a multiple of Int8Panel and k to a multiple of Int8KAlign.
func Int8Dims(n, k int) (np, kp int) {
	return (n + Int8Panel - 1) / Int8Panel * Int8Panel, (k + Int8KAlign - 1) / Int8KAlign * Int8KAlign
}

// Int8 is a weight matrix of N rows (outputs) and K columns quantized to
// symmetric 8-bit integers with one scale per row:
//
//	w[j][p] ≈ Scale[j] · q(j, p),  q in [−127, 127]
//
// stored in the panel layout described at Int8Panel: q(j, p) is
// Q[Index(j, p)]. Sum[j] is Σₚ q(j, p), which integer kernels need to undo
// an activation's zero point. Scale and Sum have one entry per padded row
// (Int8Dims); the padding rows have scale and sum 0.
//
// MatMulInt8 multiplies an Int8 matrix with the backend's integer kernels
// when it implements Int8Multiplier, without expanding it to float32;
// MatMul (and MatMulInt8 on other backends) expands it tile by tile
// (DecodeRows) and multiplies in float32. An Int8 is immutable once built
// and safe for concurrent use.
type Int8 struct {
	N, K  int
	Q     []int8
	Scale []float32
	Sum   []int32
}

// Int8Matrix is implemented by matrices that can present themselves as an
// Int8 (such as quant's 8-bit linear codec). Int8 returns nil when the
// matrix is not held as int8 (another codec of the same type).
type Int8Matrix interface {
	Matrix
	Int8() *Int8
}

// Int8Multiplier is implemented by backends with integer kernels.
//
// MatMulInt8 computes out[m×N] = a[m×K]·ŵᵀ, or adds it to out when
// accumulate is true, where ŵ[j][p] = Scale[j]·q(j, p). Each row of a is
// first quantized on its own ("dynamically") to 8 bits:
//
//	lo = min(0, min a[i]), hi = max(0, max a[i]), s = (hi − lo)/255,
//	z = round(−lo/s), x = clamp(round(a/s) + z, 0, 255)
//
// so a[i][p] ≈ s·(x − z) within s/2, and every product is summed exactly
// in int32 (Σ (x−z)·q) before one float32 rescale per output,
// out = float32(Σ)·Scale[j]·s. The error of an output against the exact
// product a·ŵᵀ is therefore at most (s/2)·Σₚ|ŵ[j][p]|, plus a few float32
// roundings of the result; backendtest checks that bound. K must be at most
// 65536 so that the sums fit in int32. Non-finite activations give
// unspecified (but not crashing) results.
type Int8Multiplier interface {
	MatMulInt8(out, a []float32, m int, w *Int8, accumulate bool)
}

// A ScratchKeeper keeps memory between its products' calls (quantized
// activations, expanded low-bit panels) so that a call allocates nothing.
// KeptScratchBytes bounds it for the integer products of up to m rows of
// activations and k columns, made one at a time. A budget that counts
// what a request holds counts it.
type ScratchKeeper interface {
	KeptScratchBytes(m, k int) int64
}

// MaxInt8K is the largest K an Int8 matrix may have: 255·128·K must fit in
// an int32 accumulator.
const MaxInt8K = 65536

// NewInt8 returns an all-zero n×k Int8 matrix with its storage allocated;
// fill it with SetRow.
func NewInt8(n, k int) *Int8 {
	if n < 0 || k < 0 || k > MaxInt8K {
		panic(fmt.Sprintf("backend.NewInt8(%d, %d): dimensions out of range (K ≤ %d)", n, k, MaxInt8K))
	}
	np, kp := Int8Dims(n, k)
	return &Int8{N: n, K: k, Q: make([]int8, np*kp), Scale: make([]float32, np), Sum: make([]int32, np)}
}

// Index returns the position of q(j, p) in Q.
func (m *Int8) Index(j, p int) int {
	_, kp := Int8Dims(m.N, m.K)
	return j/Int8Panel*Int8Panel*kp + p/Int8Group*(Int8Panel*Int8Group) + j%Int8Panel*Int8Group + p%Int8Group
}

// Check reports whether m's slices have the lengths its dimensions need.
// It reads no values; builders (NewInt8, QuantizeInt8, quant's decoder)
// produce consistent matrices, and Check guards hand-built ones.
func (m *Int8) Check() error {
	if m.N < 0 || m.K < 0 || m.K > MaxInt8K {
		return fmt.Errorf("backend: int8 matrix %d×%d: dimensions out of range (K ≤ %d)", m.N, m.K, MaxInt8K)
	}
	np, kp := Int8Dims(m.N, m.K)
	if len(m.Q) < np*kp || len(m.Scale) < np || len(m.Sum) < np {
		return fmt.Errorf("backend: int8 matrix %d×%d: Q, Scale, Sum have %d, %d, %d entries, want %d, %d, %d",
			m.N, m.K, len(m.Q), len(m.Scale), len(m.Sum), np*kp, np, np)
	}
	return nil
}

// SetRow stores row j from q[:K] with scale s, and its sum.
func (m *Int8) SetRow(j int, q []int8, s float32) {
	q = q[:m.K]
	var sum int32
	for p, v := range q {
		m.Q[m.Index(j, p)] = v
		sum += int32(v)
	}
	m.Scale[j], m.Sum[j] = s, sum
}

// Row copies row j's integers into dst[:K].
func (m *Int8) Row(dst []int8, j int) {
	dst = dst[:m.K]
	base := m.Index(j, 0)
	for p := range dst {
		dst[p] = m.Q[base+p/Int8Group*(Int8Panel*Int8Group)+p%Int8Group]
	}
}

// Dims implements Matrix.
func (m *Int8) Dims() (n, k int) { return m.N, m.K }

// Int8 implements Int8Matrix.
func (m *Int8) Int8() *Int8 { return m }

// DecodeRows implements Matrix: row j is Scale[j]·q(j, ·).
func (m *Int8) DecodeRows(dst []float32, r0, r1 int) {
	if r0 < 0 || r1 < r0 || r1 > m.N || len(dst) < (r1-r0)*m.K {
		panic(fmt.Sprintf("backend: Int8.DecodeRows(dst[%d], %d, %d) on a %d×%d matrix", len(dst), r0, r1, m.N, m.K))
	}
	k := m.K
	for j := r0; j < r1; j++ {
		d := dst[(j-r0)*k : (j-r0+1)*k]
		s := m.Scale[j]
		base := m.Index(j, 0)
		for p := range d {
			d[p] = s * float32(m.Q[base+p/Int8Group*(Int8Panel*Int8Group)+p%Int8Group])
		}
	}
}

// QuantizeInt8 quantizes the row-major n×k matrix w to an Int8 matrix,
// each row symmetrically: Scale[j] = max|w[j]|/127 and q = round(w/Scale[j])
// (ties to even), so |w − ŵ| ≤ Scale[j]/2. Weights must be finite.
func QuantizeInt8(w []float32, n, k int) (*Int8, error) {
	if n < 0 || k < 0 || k > MaxInt8K {
		return nil, fmt.Errorf("backend: quantize int8: dimensions %d×%d out of range (K ≤ %d)", n, k, MaxInt8K)
	}
	if len(w) != n*k {
		return nil, fmt.Errorf("backend: quantize int8: %d weights for a %d×%d matrix", len(w), n, k)
	}
	m := NewInt8(n, k)
	q := make([]int8, k)
	for j := range n {
		row := w[j*k : (j+1)*k]
		s, err := QuantizeRowInt8(q, row)
		if err != nil {
			return nil, fmt.Errorf("backend: quantize int8: row %d: %w", j, err)
		}
		m.SetRow(j, q, s)
	}
	return m, nil
}

// QuantizeRowInt8 quantizes one row symmetrically into q[:len(row)] and
// returns its scale, max|row|/127 (0 for an all-zero row). It fails on a
// non-finite value.
func QuantizeRowInt8(q []int8, row []float32) (float32, error) {
	var mx float64
	for p, v := range row {
		f := math.Abs(float64(v))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("weight %d is %v", p, v)
		}
		mx = math.Max(mx, f)
	}
	q = q[:len(row)]
	if mx == 0 {
		clear(q)
		return 0, nil
	}
	s := float32(mx / 127)
	inv := 1 / float64(s)
	for p, v := range row {
		x := math.RoundToEven(float64(v) * inv)
		q[p] = int8(max(-127, min(127, x)))
	}
	return s, nil
}
