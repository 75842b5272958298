package backend

import "fmt"

// PackedPanel is the width of a Packed matrix's panels: rows of W
// (outputs) are grouped PackedPanel at a time, and inside a panel the
// weights are stored K-major, the PackedPanel weights of one column p of
// every row of the panel together. A kernel then multiplies PackedPanel
// outputs at once by loading one vector of weights per p and broadcasting
// one activation, accumulating whole rows of out in registers, with no
// horizontal sum (an AVX-512 register holds one panel's column, an AVX2
// register half of it). N is padded with zero rows to a multiple of
// PackedPanel; K is not padded.
const PackedPanel = 16

// Packed is a float32 weight matrix of N rows (outputs) and K columns in
// the panel layout described at PackedPanel: w[j][p] is
// Data[(j/PackedPanel)·PackedPanel·K + p·PackedPanel + j%PackedPanel].
// The padding rows (when N is not a multiple of PackedPanel) are zero.
//
// MatMul multiplies a Packed matrix with the backend's packed kernels when
// it implements PackedMultiplier; otherwise it expands it tile by tile
// (DecodeRows) and multiplies with MatMulT. A Packed is immutable once
// built and safe for concurrent use.
type Packed struct {
	N, K int
	Data []float32
}

// PackedMatrix is implemented by matrices that can present themselves as
// a Packed. Packed returns nil when the matrix is not held packed.
type PackedMatrix interface {
	Matrix
	Packed() *Packed
}

// PackedMultiplier is implemented by backends with kernels for Packed
// matrices.
//
// MatMulPacked computes out[m×N] = a[m×K]·wᵀ, or adds it to out when
// accumulate is true, in float32 (the MatMulT tolerance applies).
// PacksFloat32 reports whether it is faster than MatMulT of the same
// weights held Dense on this CPU: a caller that holds weights packs them
// only then (a backend without vector kernels for the layout still
// multiplies Packed matrices correctly, but slowly).
type PackedMultiplier interface {
	MatMulPacked(out, a []float32, m int, w *Packed, accumulate bool)
	PacksFloat32() bool
}

// PackedRows returns n rounded up to a multiple of PackedPanel: the
// number of rows a Packed n×k matrix stores.
func PackedRows(n int) int { return (n + PackedPanel - 1) / PackedPanel * PackedPanel }

// Pack returns d in the Packed layout. It packs in place, one panel at a
// time, when d.Data can hold the padded matrix (always when N is a
// multiple of PackedPanel), so that packing a held matrix needs no second
// copy of it: d then shares its storage with the result and must no longer
// be used. Otherwise d is left as it was.
func Pack(d *Dense) *Packed {
	n, k := d.N, d.K
	if n < 0 || k < 0 || len(d.Data) < n*k {
		panic(fmt.Sprintf("backend.Pack: a %d×%d matrix with %d values", n, k, len(d.Data)))
	}
	np := PackedRows(n)
	var data []float32
	if np == n {
		data = d.Data[:n*k]
	} else {
		data = make([]float32, np*k)
		copy(data, d.Data[:n*k])
	}
	// Row-major rows [16q, 16q+16) and panel q occupy the same span of
	// 16·K values, so each panel is a transpose of its own span.
	tmp := make([]float32, PackedPanel*k)
	for q := 0; q < np; q += PackedPanel {
		span := data[q*k : (q+PackedPanel)*k]
		copy(tmp, span)
		for j := range PackedPanel {
			row := tmp[j*k : (j+1)*k]
			for p, v := range row {
				span[p*PackedPanel+j] = v
			}
		}
	}
	return &Packed{N: n, K: k, Data: data}
}

// Check reports whether m's slice has the length its dimensions need.
func (m *Packed) Check() error {
	if m.N < 0 || m.K < 0 || len(m.Data) < PackedRows(m.N)*m.K {
		return fmt.Errorf("backend: packed matrix %d×%d: %d values, want %d", m.N, m.K, len(m.Data), PackedRows(m.N)*m.K)
	}
	return nil
}

// Dims implements Matrix.
func (m *Packed) Dims() (n, k int) { return m.N, m.K }

// Packed implements PackedMatrix.
func (m *Packed) Packed() *Packed { return m }

// DecodeRows implements Matrix: it writes rows [r0, r1) row-major.
func (m *Packed) DecodeRows(dst []float32, r0, r1 int) {
	if r0 < 0 || r1 < r0 || r1 > m.N || len(dst) < (r1-r0)*m.K {
		panic(fmt.Sprintf("backend: Packed.DecodeRows(dst[%d], %d, %d) on a %d×%d matrix", len(dst), r0, r1, m.N, m.K))
	}
	k := m.K
	if k == 0 {
		return
	}
	for j := r0; j < r1; j++ {
		d := dst[(j-r0)*k : (j-r0+1)*k]
		src := m.Data[j/PackedPanel*PackedPanel*k+j%PackedPanel:]
		for p := range d {
			d[p] = src[p*PackedPanel]
		}
	}
}
