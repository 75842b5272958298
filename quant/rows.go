package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DecodeRows implements backend.Matrix: it writes rows [r0, r1) as float32
// into dst[:(r1-r0)·K]. It reads only those rows' bytes (and, for the
// dictionary codec, the outliers inside them, found by binary search) and
// does not allocate. Like slice indexing and the backend kernels, it panics
// when the range or dst does not fit the matrix: that is a programming
// error, not bad data, since Decode has already validated the blob.
func (m *Matrix) DecodeRows(dst []float32, r0, r1 int) {
	if r0 < 0 || r1 < r0 || r1 > m.n || len(dst) < (r1-r0)*m.k {
		panic(fmt.Sprintf("quant: DecodeRows(dst[%d], %d, %d) on a %d×%d matrix", len(dst), r0, r1, m.n, m.k))
	}
	k := m.k
	dst = dst[:(r1-r0)*k]
	le := binary.LittleEndian
	switch m.codec {
	case codecFP32:
		if m.f32 != nil {
			copy(dst, m.f32[r0*k:r1*k])
			return
		}
		src := m.raw[4*r0*k : 4*r1*k]
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
	case codecFP16:
		decodeHalves(dst, m.raw[2*r0*k:2*r1*k])
	case codecLinear8:
		for r := r0; r < r1; r++ {
			lo := math.Float32frombits(le.Uint32(m.params[8*r:]))
			step := math.Float32frombits(le.Uint32(m.params[8*r+4:]))
			d := dst[(r-r0)*k : (r-r0+1)*k]
			for j, x := range m.raw[r*k : (r+1)*k] {
				d[j] = lo + float32(x)*step
			}
		}
	case codecInt8:
		m.i8.DecodeRows(dst, r0, r1)
	case codecDict:
		if m.i4 != nil {
			m.i4.DecodeRows(dst, r0, r1)
			return
		}
		m.decodeDict(dst, r0, r1)
	}
}

// decodeHalvesGo converts len(dst) binary16 values from src: the
// portable path, and the reference of the vector one (decodeHalves).
func decodeHalvesGo(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		u := uint32(src[2*i]) | uint32(src[2*i+1])<<8
		// Normal numbers, nearly every weight, take an inlined integer
		// path: rebias the exponent from 15 to 127 and widen the mantissa.
		// This measured faster than halfToFloat's multiply for every value.
		if u&0x7c00-0x400 < 0x7800 { // 0 < exponent < 31 in one compare
			dst[i] = math.Float32frombits(u&0x8000<<16 | (u&0x7fff<<13 + 112<<23))
		} else {
			dst[i] = fromHalf(uint16(u))
		}
	}
}

func (m *Matrix) decodeDict(dst []float32, r0, r1 int) {
	k, rb, b := m.k, m.rowBytes, m.bits
	// The centroids, read from the blob per call rather than kept in the
	// Matrix: a kept table would be 1 KB per matrix, more than a
	// preloaded low-bit shard's own weights in some cases.
	var cent [256]float32 // entries ≥ 2^bits stay zero
	for j := range len(m.cent) / 4 {
		cent[j] = math.Float32frombits(binary.LittleEndian.Uint32(m.cent[4*j:]))
	}
	rows, step := r1-r0, 1
	if k*b%8 == 0 {
		// Rows end on byte boundaries without padding, so the whole range
		// is one run of indices.
		rows, step = 1, r1-r0
	}
	for i := range rows {
		r := r0 + i*step
		d := dst[i*step*k : (i+1)*step*k]
		src := m.idx[r*rb : (r+step)*rb]
		switch b {
		case 8:
			unpack8(d, src, &cent)
		case 4:
			unpack4(d, src, &cent)
		case 2:
			unpack2(d, src, &cent)
		case 3:
			unpack3(d, src, &cent)
		case 5:
			unpack5(d, src, &cent)
		case 6:
			unpack6(d, src, &cent)
		}
	}
	if m.nOut == 0 {
		return
	}
	// Outliers in the range: the first position ≥ r0·K by binary search,
	// then forward until r1·K.
	le := binary.LittleEndian
	lo, hi := uint32(r0*k), uint32(r1*k)
	a, z := 0, m.nOut
	for a < z {
		mid := int(uint(a+z) >> 1)
		if le.Uint32(m.outPos[4*mid:]) < lo {
			a = mid + 1
		} else {
			z = mid
		}
	}
	for j := a; j < m.nOut; j++ {
		p := le.Uint32(m.outPos[4*j:])
		if p >= hi {
			break
		}
		dst[p-lo] = math.Float32frombits(le.Uint32(m.outVal[4*j:]))
	}
}

// unpack8 looks up one centroid per byte.
func unpack8(d []float32, src []byte, c *[256]float32) {
	src = src[:len(d)]
	for i, x := range src {
		d[i] = c[x]
	}
}

// unpack4 looks up two centroids per byte, low nibble first, reading four
// bytes per step.
func unpack4(d []float32, src []byte, c *[256]float32) {
	n := len(d)
	i := 0
	for ; i+8 <= n; i += 8 {
		v := binary.LittleEndian.Uint32(src[i/2:])
		p := d[i : i+8 : i+8]
		p[0] = c[byte(v)&15]
		p[1] = c[byte(v>>4)&15]
		p[2] = c[byte(v>>8)&15]
		p[3] = c[byte(v>>12)&15]
		p[4] = c[byte(v>>16)&15]
		p[5] = c[byte(v>>20)&15]
		p[6] = c[byte(v>>24)&15]
		p[7] = c[byte(v>>28)&15]
	}
	for ; i < n; i++ {
		d[i] = c[src[i/2]>>(4*(i%2))&15]
	}
}

// unpack2 looks up four centroids per byte, lowest bits first, reading
// four bytes per step.
func unpack2(d []float32, src []byte, c *[256]float32) {
	n := len(d)
	i := 0
	for ; i+16 <= n; i += 16 {
		v := binary.LittleEndian.Uint32(src[i/4:])
		p := d[i : i+16 : i+16]
		x0 := byte(v)
		p[0] = c[x0&3]
		p[1] = c[x0>>2&3]
		p[2] = c[x0>>4&3]
		p[3] = c[x0>>6]
		x1 := byte(v >> 8)
		p[4] = c[x1&3]
		p[5] = c[x1>>2&3]
		p[6] = c[x1>>4&3]
		p[7] = c[x1>>6]
		x2 := byte(v >> 16)
		p[8] = c[x2&3]
		p[9] = c[x2>>2&3]
		p[10] = c[x2>>4&3]
		p[11] = c[x2>>6]
		x3 := byte(v >> 24)
		p[12] = c[x3&3]
		p[13] = c[x3>>2&3]
		p[14] = c[x3>>4&3]
		p[15] = c[x3>>6]
	}
	for ; i < n; i++ {
		d[i] = c[src[i/4]>>(2*(i%4))&3]
	}
}

// The widths that do not divide a byte (3, 5, 6) are written out once each
// with their width as a constant: with a variable width the shifts and
// masks cost twice the time. Eight indices fill exactly b bytes, so each
// step reads one little-endian word (8 bytes, of which b are used) while at
// least 8 bytes remain, and unpackTail finishes the row bit by bit.

// unpack3 reads 3 bytes as one little-endian word per 8 indices.
func unpack3(d []float32, src []byte, c *[256]float32) {
	const b, mask = 3, 1<<3 - 1
	n := len(d)
	g, off := 0, 0
	for ; g+8 <= n && off+8 <= len(src); g, off = g+8, off+b {
		v := binary.LittleEndian.Uint64(src[off:])
		p := d[g : g+8 : g+8]
		p[0] = c[byte(v)&mask]
		p[1] = c[byte(v>>b)&mask]
		p[2] = c[byte(v>>(2*b))&mask]
		p[3] = c[byte(v>>(3*b))&mask]
		p[4] = c[byte(v>>(4*b))&mask]
		p[5] = c[byte(v>>(5*b))&mask]
		p[6] = c[byte(v>>(6*b))&mask]
		p[7] = c[byte(v>>(7*b))&mask]
	}
	unpackTail(d, src, c, b, g)
}

// unpack5 reads 5 bytes as one little-endian word per 8 indices.
func unpack5(d []float32, src []byte, c *[256]float32) {
	const b, mask = 5, 1<<5 - 1
	n := len(d)
	g, off := 0, 0
	for ; g+8 <= n && off+8 <= len(src); g, off = g+8, off+b {
		v := binary.LittleEndian.Uint64(src[off:])
		p := d[g : g+8 : g+8]
		p[0] = c[byte(v)&mask]
		p[1] = c[byte(v>>b)&mask]
		p[2] = c[byte(v>>(2*b))&mask]
		p[3] = c[byte(v>>(3*b))&mask]
		p[4] = c[byte(v>>(4*b))&mask]
		p[5] = c[byte(v>>(5*b))&mask]
		p[6] = c[byte(v>>(6*b))&mask]
		p[7] = c[byte(v>>(7*b))&mask]
	}
	unpackTail(d, src, c, b, g)
}

// unpack6 reads 6 bytes as one little-endian word per 8 indices.
func unpack6(d []float32, src []byte, c *[256]float32) {
	const b, mask = 6, 1<<6 - 1
	n := len(d)
	g, off := 0, 0
	for ; g+8 <= n && off+8 <= len(src); g, off = g+8, off+b {
		v := binary.LittleEndian.Uint64(src[off:])
		p := d[g : g+8 : g+8]
		p[0] = c[byte(v)&mask]
		p[1] = c[byte(v>>b)&mask]
		p[2] = c[byte(v>>(2*b))&mask]
		p[3] = c[byte(v>>(3*b))&mask]
		p[4] = c[byte(v>>(4*b))&mask]
		p[5] = c[byte(v>>(5*b))&mask]
		p[6] = c[byte(v>>(6*b))&mask]
		p[7] = c[byte(v>>(7*b))&mask]
	}
	unpackTail(d, src, c, b, g)
}

// unpackTail decodes indices g… of width b ≤ 8 one at a time; an index
// spans at most two bytes.
func unpackTail(d []float32, src []byte, c *[256]float32, b, g int) {
	mask := byte(1)<<b - 1
	for bit := g * b; g < len(d); g, bit = g+1, bit+b {
		i := bit >> 3
		v := uint16(src[i])
		if i+1 < len(src) {
			v |= uint16(src[i+1]) << 8
		}
		d[g] = c[byte(v>>(bit&7))&mask]
	}
}
