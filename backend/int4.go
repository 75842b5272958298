package backend

import (
	"fmt"
	"math"
)

// Int4 is a weight matrix of N rows (outputs) and K columns coded with 4
// bits per weight against dictionaries of 16 float32 centroids, plus
// outliers kept exactly (the 4-bit dictionary codec of package quant, one
// dictionary per matrix; fused layers, one per head):
//
//	w[j][p] = table(j, p).Centroids[code(j, p)], except at the outliers
//
// Integer kernels multiply it as if it were an Int8 matrix whose integers
// are table(j, p).Q[code(j, p)]: the centroids are put on an int8 grid,
// Q[c] = round(Centroids[c]/Scale[j]) (Int4Grid), which must be the same
// for all the tables row j uses. Each outlier, and the grid rounding of
// the centroid under it, is then corrected exactly in float32 afterwards:
// out[i][j] += a[i][p]·Delta (AddOutliers). So MatMulInt4 adds to
// MatMulInt8's activation rounding only the grid's, at most
// (Scale[j]/2)·Σₚ|a[i][p]| per output, over the inlier weights.
//
// Tables: with TableOf empty, Tables[0] serves the whole matrix; else
// panel P's columns [b·KBlock, (b+1)·KBlock) use Tables[TableOf[P·nb+b]],
// nb = ⌈kp/KBlock⌉ blocks per panel, KBlock a multiple of Int8KAlign.
//
// Codes are stored two per byte in the Int8 panel layout (Int8Panel rows
// by groups of Int8Group columns), so that one 64-byte load expands, low
// nibbles then high nibbles, into two consecutive 64-byte groups of Int8's
// layout: in panel P (byte offset P·Int8Panel·kp/2, kp the padded K of
// Int8Dims), the 64 bytes at offset 64t hold columns [8t, 8t+8), byte
// l·4+g holding code(16P+l, 8t+g) in its low nibble and code(16P+l,
// 8t+4+g) in its high nibble. Padding codes are 0; they multiply
// activations that kernels pad with zero and are left out of Sum, so their
// table entry does not matter.
//
// An Int4 is immutable once built (NewInt4 or by hand, SetCode, Finish)
// and safe for concurrent use.
type Int4 struct {
	N, K  int
	Codes []byte // np·kp/2 bytes (Int8Dims), in the layout above
	// Tables, TableOf and KBlock say which dictionary each code indexes
	// (see above).
	Tables  []Int4Table
	TableOf []uint16
	KBlock  int
	// Scale and Sum have one entry per padded row, as Int8's: Scale is
	// the grid step on real rows and 0 on padding rows; Sum[j] is
	// Σₚ Q[code(j, p)] over the K real columns.
	Scale []float32
	Sum   []int32
	// Outliers are the weights that are not their code's centroid,
	// sorted by (Row, Col).
	Outliers []Int4Outlier

	owned []byte // codes allocated by NewInt4, kept for reuse when Codes views others'
}

// Int4Table is one dictionary: the exact weights its codes stand for
// (DecodeRows), and the integers the kernels multiply.
type Int4Table struct {
	Centroids [16]float32
	Q         [16]int8
}

// Int4Outlier is a weight of an Int4 kept exactly: Value is the weight and
// Delta is Value − Scale[Row]·Q[code], what integer kernels must add back.
type Int4Outlier struct {
	Row, Col     int32
	Value, Delta float32
}

// Int4Matrix is implemented by matrices that can present themselves as an
// Int4 (quant's 4-bit dictionary codec). Int4 returns nil when the matrix
// is not held that way.
type Int4Matrix interface {
	Matrix
	Int4() *Int4
}

// Int4Multiplier is implemented by backends with integer kernels for Int4
// matrices. MatMulInt4 computes out[m×N] = a[m×K]·wᵀ, or adds it to out
// when accumulate is true, exactly as Int8Multiplier.MatMulInt8 would for
// the Int8 matrix of integers Q[code(j, p)] and scales Scale (Int4.AsInt8
// builds it), followed by w.AddOutliers(out, a, m): results are bit for
// bit those, so the Int8 error bound applies, plus the grid's (see Int4).
type Int4Multiplier interface {
	MatMulInt4(out, a []float32, m int, w *Int4, accumulate bool)
}

// Int4Grid puts 16 centroids on a symmetric int8 grid: s = max|c|/127 and
// q = round(c/s) (Int4GridAt). All-zero centroids give s = 0 and q = 0.
// Centroids must be finite.
func Int4Grid(c *[16]float32) (q [16]int8, s float32) {
	var mx float64
	for _, v := range c {
		mx = math.Max(mx, math.Abs(float64(v)))
	}
	if mx == 0 {
		return q, 0
	}
	s = float32(mx / 127)
	return Int4GridAt(c, s), s
}

// Int4GridAt puts 16 centroids on the int8 grid of step s > 0: q =
// round(c/s) (ties to even), clamped to ±127, so |c − s·q| ≤ s/2 where
// |c| ≤ 127·s. s = 0 gives q = 0.
func Int4GridAt(c *[16]float32, s float32) (q [16]int8) {
	if s == 0 {
		return q
	}
	inv := 1 / float64(s)
	for j, v := range c {
		q[j] = int8(max(-127, min(127, math.RoundToEven(float64(v)*inv))))
	}
	return q
}

// NewInt4 returns an n×k Int4 matrix with one dictionary, the given
// centroids on their grid (Int4Grid, which sets every row's Scale), and
// every code 0, its storage allocated, reusing dst's slices when they are
// large enough (dst may be nil). Set codes with SetCode, outliers by
// appending to Outliers (sorted), then call Finish.
func NewInt4(dst *Int4, n, k int, centroids *[16]float32) (*Int4, error) {
	return NewInt4In(dst, n, k, centroids, nil)
}

// NewInt4In is NewInt4 with the codes in codes, which must hold
// np·kp/2 bytes (Int8Dims) in the layout and are used as they are, not
// cleared; nil allocates (or reuses dst's) zeroed codes.
func NewInt4In(dst *Int4, n, k int, centroids *[16]float32, codes []byte) (*Int4, error) {
	if n < 0 || k < 0 || k > MaxInt8K {
		return nil, fmt.Errorf("backend: int4 matrix %d×%d: dimensions out of range (K ≤ %d)", n, k, MaxInt8K)
	}
	for j, v := range centroids {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("backend: int4 matrix %d×%d: centroid %d is %v", n, k, j, v)
		}
	}
	if dst == nil {
		dst = new(Int4)
	}
	np, kp := Int8Dims(n, k)
	view := codes != nil
	if view && len(codes) != np*kp/2 {
		return nil, fmt.Errorf("backend: int4 matrix %d×%d: %d bytes of codes, want %d", n, k, len(codes), np*kp/2)
	}
	// Only codes of dst's own are reused: Codes may view a blob.
	own, scale, sum, outs, tabs := dst.owned[:0], dst.Scale[:0], dst.Sum[:0], dst.Outliers[:0], dst.Tables[:0]
	if !view {
		if cap(own) < np*kp/2 {
			own = make([]byte, np*kp/2)
		}
		codes = own[:np*kp/2]
		clear(codes)
	}
	if cap(scale) < np || cap(sum) < np {
		scale, sum = make([]float32, np), make([]int32, np)
	}
	q, s := Int4Grid(centroids)
	*dst = Int4{N: n, K: k, Codes: codes, Tables: append(tabs, Int4Table{Centroids: *centroids, Q: q}),
		Scale: scale[:np], Sum: sum[:np], Outliers: outs, owned: own}
	for j := range np {
		dst.Scale[j] = 0
		if j < n {
			dst.Scale[j] = s
		}
	}
	return dst, nil
}

// TableAt returns the dictionary of panel P's column p.
func (m *Int4) TableAt(P, p int) *Int4Table {
	if len(m.TableOf) == 0 {
		return &m.Tables[0]
	}
	_, kp := Int8Dims(m.N, m.K)
	nb := (kp + m.KBlock - 1) / m.KBlock
	return &m.Tables[m.TableOf[P*nb+p/m.KBlock]]
}

// checkTables reports whether the table fields are consistent.
func (m *Int4) checkTables() error {
	if len(m.Tables) == 0 {
		return fmt.Errorf("backend: int4 matrix %d×%d has no tables", m.N, m.K)
	}
	if len(m.TableOf) == 0 {
		return nil
	}
	np, kp := Int8Dims(m.N, m.K)
	if m.KBlock <= 0 || m.KBlock%Int8KAlign != 0 {
		return fmt.Errorf("backend: int4 matrix %d×%d: table blocks of %d columns, want a positive multiple of %d", m.N, m.K, m.KBlock, Int8KAlign)
	}
	nb := (kp + m.KBlock - 1) / m.KBlock
	if len(m.TableOf) != np/Int8Panel*nb {
		return fmt.Errorf("backend: int4 matrix %d×%d: %d table indices, want %d", m.N, m.K, len(m.TableOf), np/Int8Panel*nb)
	}
	for i, t := range m.TableOf {
		if int(t) >= len(m.Tables) {
			return fmt.Errorf("backend: int4 matrix %d×%d: table index %d is %d, have %d tables", m.N, m.K, i, t, len(m.Tables))
		}
	}
	return nil
}

// CodeIndex returns the byte of Codes that holds code(j, p) and the shift
// (0 or 4) of its nibble.
func (m *Int4) CodeIndex(j, p int) (int, uint) {
	_, kp := Int8Dims(m.N, m.K)
	return j/Int8Panel*Int8Panel*kp/2 + p/8*64 + j%Int8Panel*Int8Group + p%Int8Group, uint(p % 8 / Int8Group * 4)
}

// Code returns code(j, p).
func (m *Int4) Code(j, p int) byte {
	i, sh := m.CodeIndex(j, p)
	return m.Codes[i] >> sh & 15
}

// SetCode sets code(j, p) to c&15.
func (m *Int4) SetCode(j, p int, c byte) {
	i, sh := m.CodeIndex(j, p)
	m.Codes[i] = m.Codes[i]&^(15<<sh) | (c&15)<<sh
}

// Finish computes Sum and the outliers' Delta from the codes, the tables,
// Scale and the outliers' values, and checks the tables and the outliers:
// inside the matrix, sorted by (Row, Col) without repeats, and finite.
func (m *Int4) Finish() error {
	if err := m.Check(); err != nil {
		return err
	}
	np, kp := Int8Dims(m.N, m.K)
	clear(m.Sum[:np])
	// Sums read the codes in storage order: 64 bytes per 8 columns of a
	// panel, byte l·4+g holding columns g and 4+g of the panel's row l.
	// With one table, the groups of 8 columns inside K add a byte's two
	// integers at once (pair), four bytes a row; only a last group that
	// pads needs the column checks.
	full := 0
	var pair [256]int32
	if len(m.TableOf) == 0 {
		T := &m.Tables[0].Q
		for b := range pair {
			pair[b] = int32(T[b&15]) + int32(T[b>>4])
		}
		full = m.K / 8
	}
	for P := 0; P < np/Int8Panel; P++ {
		pan := m.Codes[P*Int8Panel*kp/2 : (P+1)*Int8Panel*kp/2]
		sum := m.Sum[P*Int8Panel : (P+1)*Int8Panel : (P+1)*Int8Panel]
		for t := range full {
			grp := pan[t*64 : t*64+64 : t*64+64]
			for l := range Int8Panel {
				sum[l] += pair[grp[4*l]] + pair[grp[4*l+1]] + pair[grp[4*l+2]] + pair[grp[4*l+3]]
			}
		}
		for t := full; t < kp/8; t++ {
			T := &m.TableAt(P, 8*t).Q
			grp := pan[t*64 : t*64+64]
			for i, b := range grp {
				l, g := i/Int8Group, i%Int8Group
				if c := 8*t + g; c < m.K {
					sum[l] += int32(T[b&15])
				}
				if c := 8*t + 4 + g; c < m.K {
					sum[l] += int32(T[b>>4])
				}
			}
		}
	}
	for j := m.N; j < np; j++ {
		m.Sum[j] = 0 // padding rows are not multiplied by anything real
	}
	prev := int64(-1)
	for i := range m.Outliers {
		o := &m.Outliers[i]
		pos := int64(o.Row)*int64(m.K) + int64(o.Col)
		if o.Row < 0 || int(o.Row) >= m.N || o.Col < 0 || int(o.Col) >= m.K || pos <= prev {
			return fmt.Errorf("backend: int4 matrix %d×%d: outlier %d at (%d, %d) is outside the matrix or out of order", m.N, m.K, i, o.Row, o.Col)
		}
		if math.IsNaN(float64(o.Value)) || math.IsInf(float64(o.Value), 0) {
			return fmt.Errorf("backend: int4 matrix %d×%d: outlier %d at (%d, %d) is %v", m.N, m.K, i, o.Row, o.Col, o.Value)
		}
		prev = pos
		q := m.TableAt(int(o.Row)/Int8Panel, int(o.Col)).Q[m.Code(int(o.Row), int(o.Col))]
		o.Delta = float32(float64(o.Value) - float64(m.Scale[o.Row])*float64(q))
	}
	return nil
}

// Check reports whether m's slices have the lengths its dimensions need.
func (m *Int4) Check() error {
	if m.N < 0 || m.K < 0 || m.K > MaxInt8K {
		return fmt.Errorf("backend: int4 matrix %d×%d: dimensions out of range (K ≤ %d)", m.N, m.K, MaxInt8K)
	}
	np, kp := Int8Dims(m.N, m.K)
	if len(m.Codes) < np*kp/2 || len(m.Scale) < np || len(m.Sum) < np {
		return fmt.Errorf("backend: int4 matrix %d×%d: Codes, Scale, Sum have %d, %d, %d entries, want %d, %d, %d",
			m.N, m.K, len(m.Codes), len(m.Scale), len(m.Sum), np*kp/2, np, np)
	}
	return m.checkTables()
}

// Dims implements Matrix.
func (m *Int4) Dims() (n, k int) { return m.N, m.K }

// Int4 implements Int4Matrix.
func (m *Int4) Int4() *Int4 { return m }

// DecodeRows implements Matrix: the exact weights, Centroids[code] and the
// outliers' values.
func (m *Int4) DecodeRows(dst []float32, r0, r1 int) {
	if r0 < 0 || r1 < r0 || r1 > m.N || len(dst) < (r1-r0)*m.K {
		panic(fmt.Sprintf("backend: Int4.DecodeRows(dst[%d], %d, %d) on a %d×%d matrix", len(dst), r0, r1, m.N, m.K))
	}
	k := m.K
	_, kp := Int8Dims(m.N, m.K)
	for j := r0; j < r1; j++ {
		d := dst[(j-r0)*k : (j-r0+1)*k]
		// Row j's bytes: 4 per 8 columns, 64 bytes apart; table blocks
		// are whole groups of 8 columns.
		base := j/Int8Panel*Int8Panel*kp/2 + j%Int8Panel*Int8Group
		p := 0
		for ; p+8 <= k; p += 8 {
			c := &m.TableAt(j/Int8Panel, p).Centroids
			b := m.Codes[base+p/8*64 : base+p/8*64+4 : base+p/8*64+4]
			e := d[p : p+8 : p+8]
			e[0], e[4] = c[b[0]&15], c[b[0]>>4]
			e[1], e[5] = c[b[1]&15], c[b[1]>>4]
			e[2], e[6] = c[b[2]&15], c[b[2]>>4]
			e[3], e[7] = c[b[3]&15], c[b[3]>>4]
		}
		for ; p < k; p++ {
			d[p] = m.TableAt(j/Int8Panel, p).Centroids[m.Code(j, p)]
		}
	}
	// The outliers of the range, found by binary search.
	i := m.firstOutlier(r0)
	for ; i < len(m.Outliers) && int(m.Outliers[i].Row) < r1; i++ {
		o := m.Outliers[i]
		dst[(int(o.Row)-r0)*k+int(o.Col)] = o.Value
	}
}

// firstOutlier returns the index of the first outlier in row r or later.
func (m *Int4) firstOutlier(r int) int {
	a, z := 0, len(m.Outliers)
	for a < z {
		mid := int(uint(a+z) >> 1)
		if int(m.Outliers[mid].Row) < r {
			a = mid + 1
		} else {
			z = mid
		}
	}
	return a
}

// AsInt8 returns the Int8 matrix the integer kernels multiply: integers
// table(j, p).Q[code(j, p)], the same Scale and Sum. MatMulInt8 of it
// followed by AddOutliers is MatMulInt4's result, bit for bit.
func (m *Int4) AsInt8() *Int8 {
	q := NewInt8(m.N, m.K)
	row := make([]int8, m.K)
	for j := range m.N {
		for p := range row {
			row[p] = m.TableAt(j/Int8Panel, p).Q[m.Code(j, p)]
		}
		q.SetRow(j, row, m.Scale[j])
	}
	return q
}

// AddOutliers adds the outliers' corrections to a product out[m×N] of
// a[m×K] and the grid weights Scale·Q[code]: out[i][Row] +=
// a[i][Col]·Delta for every outlier, in order, in float32. Every
// Int4Multiplier ends with it.
func (m *Int4) AddOutliers(out, a []float32, rows int) {
	n, k := m.N, m.K
	if len(m.Outliers) == 0 {
		return
	}
	// Row by row, so that a row of a and of out stay in L1 while every
	// outlier is added (column by column, each outlier would touch a
	// cache line of every row); each output still gets its corrections
	// in outlier order.
	i := 0
	// Four rows per pass over the outliers share their loads.
	for ; i+4 <= rows; i += 4 {
		a0, a1, a2, a3 := a[i*k:(i+1)*k], a[(i+1)*k:(i+2)*k], a[(i+2)*k:(i+3)*k], a[(i+3)*k:(i+4)*k]
		o0, o1, o2, o3 := out[i*n:(i+1)*n], out[(i+1)*n:(i+2)*n], out[(i+2)*n:(i+3)*n], out[(i+3)*n:(i+4)*n]
		for _, o := range m.Outliers {
			j, p, d := int(o.Row), int(o.Col), o.Delta
			o0[j] += a0[p] * d
			o1[j] += a1[p] * d
			o2[j] += a2[p] * d
			o3[j] += a3[p] * d
		}
	}
	for ; i < rows; i++ {
		ai, oi := a[i*k:(i+1)*k], out[i*n:(i+1)*n]
		for _, o := range m.Outliers {
			oi[o.Row] += ai[o.Col] * o.Delta
		}
	}
}

// UnpackInt4 expands n bytes of codes (n a multiple of 64) in the Int4
// layout into 2n int8 integers in the Int8 layout: dst[128t+i] =
// tab[src[64t+i]&15] and dst[128t+64+i] = tab[src[64t+i]>>4]. It is the
// reference the backends' vector versions match.
func UnpackInt4(dst []int8, src []byte, tab *[16]int8) {
	dst = dst[:2*len(src)]
	for t := 0; t+64 <= len(src); t += 64 {
		s := src[t : t+64 : t+64]
		d := dst[2*t : 2*t+128 : 2*t+128]
		for i, b := range s {
			d[i] = tab[b&15]
			d[64+i] = tab[b>>4]
		}
	}
}
