package quant

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"unsafe"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/internal/freelist"
)

// Matrix is a decoded view of a blob. It implements backend.Matrix: Dims,
// and DecodeRows, which expands any range of rows into float32 in
// O(rows·K) time without allocating.
//
// The blob is not copied: the Matrix reads it in place, so the blob must
// outlive the Matrix and must not be modified while the Matrix is
// in use. The exception is the dictionary codec at 2 to 4 bits, whose
// codes are repacked into memory of the Matrix's own (see Int4) unless the
// blob holds them in place (RepackInt4). In particular, a blob read into a pooled (e.g. aligned direct-IO)
// buffer must not go back to the pool before the Matrix is dropped. A
// Matrix is immutable and safe for concurrent use.
type Matrix struct {
	codec codec
	n, k  int

	// fp32: f32 when the payload is 4-byte aligned on a little-endian host
	// (a zero-copy view), raw otherwise.
	f32 []float32
	raw []byte
	// dense is f32 as a backend.Dense (Dense), when f32 is set.
	dense backend.Dense

	// dictionary
	bits     int
	rowBytes int
	cent     []byte // float32[2^bits], ascending: viewed, not copied
	nOut     int
	outPos   []byte // uint32[nOut]
	outVal   []byte // float32[nOut]
	idx      []byte // n·rowBytes

	// linear8
	params []byte // (lo, step) float32 pairs per row

	// int8: the panels view the blob; scales and sums are copied. i8 is
	// nil for the other codecs; i8buf keeps the memory across decodes.
	i8, i8buf *backend.Int8

	// 2- to 4-bit dictionary: the codes repacked into backend.Int4's panel
	// layout, with the centroids and outliers copied, so that the Matrix
	// no longer references the blob (idx, cent, outPos and outVal are
	// nil). i4 is nil for the other codecs; i4buf keeps the memory
	// across decodes.
	i4, i4buf *backend.Int4

	// own holds the integers of an integer form that cannot view the
	// blob: 2- and 3-bit codes spread into nibbles, 4-bit ones repacked,
	// or the int8 form of 5 and 6 bits; kept across decodes, so a Matrix
	// holds at most one byte per weight of the largest it decoded.
	own []byte
}

// Int8 implements backend.Int8Matrix: for a blob of the int8 codec, the
// matrix as backend.Int8, its panels viewing the blob; for a 5- or 6-bit
// dictionary, its weights quantized to int8 per row (backend.QuantizeInt8
// of what DecodeRows gives: the int8 kernels then add that rounding, at
// most half a step of max|row|/127 per weight, to the codes' own error);
// nil for the other codecs.
func (m *Matrix) Int8() *backend.Int8 { return m.i8 }

// Int4 implements backend.Int4Matrix: for a blob of the dictionary codec
// at 2, 3 or 4 bits, the matrix as backend.Int4 (its codes repacked into
// nibbles when decoded, its centroids put on an int8 grid; see
// backend.Int4); nil for the other codecs.
func (m *Matrix) Int4() *backend.Int4 { return m.i4 }

// Dense implements backend.DenseMatrix: for a blob of the fp32 codec
// viewed in place (a 4-byte aligned payload on a little-endian host), the
// matrix as backend.Dense over the blob's floats, so that backend.MatMul
// multiplies it without copying; nil otherwise. The Dense must not be
// modified.
func (m *Matrix) Dense() *backend.Dense {
	if m.f32 == nil {
		return nil
	}
	return &m.dense
}

// Dims implements backend.Matrix.
func (m *Matrix) Dims() (n, k int) { return m.n, m.k }

// HeldBytes is the memory m holds besides the blob it views: itself, and
// the scales, sums, tables and outliers its integer forms copy or
// compute, and the integers of its integer forms that do not view the
// blob (own): a 2- or 3-bit matrix's codes spread into nibbles, half a
// byte per weight, more than the blob's codes; a 5- or 6-bit matrix's
// int8 form, a byte per weight. A decoded shard kept for many requests (a preloaded one) holds
// it on the heap for as long.
func (m *Matrix) HeldBytes() int64 {
	n := int64(unsafe.Sizeof(*m)) + int64(cap(m.own))
	if w := m.i8buf; w != nil {
		n += int64(unsafe.Sizeof(*w)) + 4*int64(cap(w.Scale)+cap(w.Sum))
	}
	if w := m.i4buf; w != nil {
		n += int64(unsafe.Sizeof(*w)) + 4*int64(cap(w.Scale)+cap(w.Sum)) + 2*int64(cap(w.TableOf)) +
			int64(unsafe.Sizeof(backend.Int4Table{}))*int64(cap(w.Tables)) +
			int64(unsafe.Sizeof(backend.Int4Outlier{}))*int64(cap(w.Outliers))
	}
	return n
}

// Decode validates blob and returns a Matrix over it. Every header field,
// length, centroid and outlier position is checked, so a corrupted or
// truncated blob gives an error, and so does a blob with an lz4-compressed
// payload, which this package no longer reads (see the package comment).
// The blob is referenced, not copied: see Matrix.
func Decode(blob []byte) (*Matrix, error) {
	m := new(Matrix)
	if err := DecodeInto(m, blob); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeInto is Decode into m, which it overwrites, reusing m's memory:
// decoding a stream of blobs into one Matrix allocates nothing. A Matrix
// that a failed DecodeInto overwrote must not be used.
func DecodeInto(m *Matrix, blob []byte) error {
	h, err := parseHeader(blob)
	if err != nil {
		return err
	}
	payload := blob[headerSize:]
	i8, i4, own := m.i8buf, m.i4buf, m.own
	*m = Matrix{codec: h.codec, n: h.n, k: h.k, i8buf: i8, i4buf: i4, own: own}
	le := binary.LittleEndian
	switch h.codec {
	case codecFP32:
		m.raw = payload
		if len(payload) > 0 && littleEndian() && uintptr(unsafe.Pointer(&payload[0]))%4 == 0 {
			m.f32 = unsafe.Slice((*float32)(unsafe.Pointer(&payload[0])), h.n*h.k)
			m.dense = backend.Dense{N: h.n, K: h.k, Data: m.f32}
		}
	case codecFP16:
		m.raw = payload
	case codecLinear8:
		m.params = payload[:8*h.n]
		m.raw = payload[8*h.n:]
		for r := range h.n {
			lo := math.Float32frombits(le.Uint32(m.params[8*r:]))
			step := math.Float32frombits(le.Uint32(m.params[8*r+4:]))
			if !finite(lo) || !finite(step) || step < 0 {
				return fmt.Errorf("quant: decode: row %d has scale (lo %v, step %v)", r, lo, step)
			}
		}
	case codecInt8:
		if i8 == nil {
			i8 = new(backend.Int8)
			m.i8buf = i8
		}
		if err := decodeInt8In(i8, payload, h.n, h.k); err != nil {
			return err
		}
		m.i8 = i8
	case codecDict:
		m.bits = int(h.fid)
		m.rowBytes = rowBytes(h.k, m.bits)
		c, o := h.centroids, h.outliers
		m.cent = payload[:4*c]
		low := float32(math.Inf(-1))
		for j := range c {
			v := math.Float32frombits(le.Uint32(payload[4*j:]))
			if !finite(v) || v < low {
				return fmt.Errorf("quant: decode: centroid %d (%v) is not finite or not ascending", j, v)
			}
			low = v
		}
		m.nOut = o
		m.outPos = payload[4*c : 4*c+4*o]
		m.outVal = payload[4*c+4*o : 4*c+8*o]
		m.idx = payload[4*c+8*o:]
		total := uint64(h.n) * uint64(h.k)
		prev := int64(-1)
		for j := range o {
			p := int64(le.Uint32(m.outPos[4*j:]))
			if p <= prev || uint64(p) >= total {
				return fmt.Errorf("quant: decode: outlier %d at position %d is out of order or outside the %d×%d matrix", j, p, h.n, h.k)
			}
			prev = p
			if v := math.Float32frombits(le.Uint32(m.outVal[4*j:])); !finite(v) {
				return fmt.Errorf("quant: decode: outlier %d at position %d is %v", j, p, v)
			}
		}
		// Codes of up to 4 bits fit a nibble: backend.Int4 holds them, so
		// they run on the integer kernels (2- and 3-bit codes are spread
		// into nibbles, their centroids padded to 16 with zeros).
		if m.bits <= 4 && h.k <= backend.MaxInt8K {
			if i4 == nil {
				i4 = new(backend.Int4)
				m.i4buf = i4
			}
			if err := m.int4(i4, h.flags&flagPanel4 != 0); err != nil {
				return err
			}
			m.i4 = i4
			m.cent, m.outPos, m.outVal, m.idx = nil, nil, nil, nil
		}
		// 5- and 6-bit codes do not: they are expanded into an Int8, each
		// row quantized on its own grid (backend.QuantizeRowInt8 of the
		// exact weights, which DecodeRows still gives), for the int8
		// kernels.
		if (m.bits == 5 || m.bits == 6) && h.k <= backend.MaxInt8K {
			if i8 == nil {
				i8 = new(backend.Int8)
				m.i8buf = i8
			}
			m.int8(i8)
			m.i8 = i8
		}
	}
	return nil
}

// panelInPlace reports whether a blob can hold its codes in backend.Int4's
// panel layout in place (RepackInt4): a 4-bit dictionary whose dimensions
// are multiples of 16, so that the layout has no padding and takes the
// bytes of the row layout, N·K/2.
func panelInPlace(h header) bool {
	return h.codec == codecDict && h.fid == Bits4 && h.n%backend.Int8Panel == 0 && h.k%backend.Int8KAlign == 0 && h.k <= backend.MaxInt8K
}

// RepackInt4 rewrites in place the codes of a 4-bit dictionary blob whose
// dimensions are multiples of 16 into backend.Int4's panel layout, and
// marks the blob so (a header flag, with the header checksum updated):
// Decode then views the codes where they are, and the Matrix holds the
// blob's half byte per weight and nothing more. It leaves any other blob,
// and one already repacked, alone, and reports whether it rewrote blob.
// The caller must own blob: nothing may read it meanwhile, and a store's
// checksum of it no longer holds afterwards.
func RepackInt4(blob []byte) (bool, error) {
	h, err := parseHeader(blob)
	if err != nil {
		return false, err
	}
	if h.flags&flagPanel4 != 0 || !panelInPlace(h) {
		return false, nil
	}
	idx := blob[headerSize+4*h.centroids+8*h.outliers:]
	tp, ok := repackBufs.Get()
	if !ok {
		tp = new([]byte)
	}
	defer repackBufs.Put(tp)
	if cap(*tp) < len(idx) {
		*tp = make([]byte, len(idx))
	}
	tmp := (*tp)[:len(idx)]
	packPanels(tmp, idx, h.n, h.k, rowBytes(h.k, 4))
	copy(idx, tmp)
	blob[7] |= flagPanel4
	binary.LittleEndian.PutUint32(blob[32:], crc32.Checksum(blob[:32], castagnoli))
	return true, nil
}

// repackBufs keeps RepackInt4's temporary buffers, across collections
// (unlike a sync.Pool: a program that bounds its heap collects often, and
// re-allocating them after every collection was 31 KB a streamed request).
var repackBufs = freelist.List[*[]byte]{Max: 4}

// packPanels writes the codes of an n×k matrix, rows of rb bytes of
// packed nibbles in idx, into dst in backend.Int4's panel layout (dst
// zeroed where the layout pads).
func packPanels(dst, idx []byte, n, k, rb int) {
	le := binary.LittleEndian
	_, kp := backend.Int8Dims(n, k)
	for j := range n {
		row := idx[j*rb : (j+1)*rb]
		base := j/backend.Int8Panel*backend.Int8Panel*kp/2 + j%backend.Int8Panel*backend.Int8Group
		p := 0
		// Eight codes (4 bytes, low nibble first) per step become one
		// 4-byte word of the panel layout: byte g holds columns g and
		// 4+g of the eight.
		for ; p+8 <= k; p += 8 {
			v := le.Uint32(row[p/2:])
			le.PutUint32(dst[base+p/8*64:], spreadNibbles(v&0xffff)|spreadNibbles(v>>16)<<4)
		}
		for ; p < k; p++ {
			c := row[p/2] >> (4 * (p % 2)) & 15
			i := base + p/8*64 + p%backend.Int8Group
			sh := p % 8 / backend.Int8Group * 4
			dst[i] = dst[i]&^(15<<sh) | c<<sh
		}
	}
}

// int4 builds in dst the backend.Int4 of a validated dictionary matrix of
// 2, 3 or 4 bits: its codes viewed in place when the blob holds them in
// panel layout (RepackInt4, 4 bits only), else repacked into dst's own
// memory; its centroids (padded to 16 with zeros, which no code indexes)
// and outliers copied.
func (m *Matrix) int4(dst *backend.Int4, inPlace bool) error {
	le := binary.LittleEndian
	var c [16]float32
	for j := range 1 << m.bits {
		c[j] = math.Float32frombits(le.Uint32(m.cent[4*j:]))
	}
	codes := m.idx
	if !inPlace {
		np, kp := backend.Int8Dims(m.n, m.k)
		codes = m.ownBytes(np * kp / 2)
		clear(codes)
	}
	w, err := backend.NewInt4In(dst, m.n, m.k, &c, codes)
	if err != nil {
		return fmt.Errorf("quant: decode: %w", err)
	}
	switch {
	case inPlace:
	case m.bits == 4:
		packPanels(w.Codes, m.idx, m.n, m.k, m.rowBytes)
	default:
		spreadPanels(w.Codes, m.idx, m.n, m.k, m.rowBytes, uint(m.bits))
	}
	k := m.k
	w.Outliers = w.Outliers[:0]
	for j := range m.nOut {
		pos := le.Uint32(m.outPos[4*j:])
		w.Outliers = append(w.Outliers, backend.Int4Outlier{
			Row: int32(int(pos) / k), Col: int32(int(pos) % k),
			Value: math.Float32frombits(le.Uint32(m.outVal[4*j:])),
		})
	}
	if err := w.Finish(); err != nil {
		return fmt.Errorf("quant: decode: %w", err)
	}
	return nil
}

// ownBytes returns m.own resized to n bytes, reallocated when too small.
func (m *Matrix) ownBytes(n int) []byte {
	if cap(m.own) < n {
		m.own = make([]byte, n)
	}
	return m.own[:n]
}

// int8 builds in dst the backend.Int8 of a validated 5- or 6-bit
// dictionary matrix: its integers in m's own memory, each row exactly what
// backend.QuantizeRowInt8 makes of the row's weights (scale max|row|/127,
// so within half a step of the weights). A row's weights are its codes'
// centroids but at the outliers, so each centroid is rounded once per row
// rather than each weight.
func (m *Matrix) int8(dst *backend.Int8) {
	n, k := m.n, m.k
	np, kp := backend.Int8Dims(n, k)
	own := m.ownBytes(np * kp)
	clear(own) // the padding
	var q []int8
	if len(own) > 0 {
		q = unsafe.Slice((*int8)(unsafe.Pointer(&own[0])), len(own))
	}
	scale, sum := dst.Scale[:0], dst.Sum[:0]
	if cap(scale) < np || cap(sum) < np {
		scale, sum = make([]float32, np), make([]int32, np)
	}
	*dst = backend.Int8{N: n, K: k, Q: q, Scale: scale[:np], Sum: sum[:np]}
	rp, ok := int8Rows.Get()
	if !ok {
		rp = new(int8Row)
	}
	defer int8Rows.Put(rp)
	if cap(rp.codes) < k {
		rp.codes = make([]float32, k)
	}
	codes := rp.codes[:k]
	le := binary.LittleEndian
	// The unpackers look codes up in a table: this one gives each code's
	// own number, exactly representable in float32.
	var ident, cent [256]float32
	nc := len(m.cent) / 4
	for c := range nc {
		ident[c] = float32(c)
		cent[c] = math.Float32frombits(le.Uint32(m.cent[4*c:]))
	}
	o := 0 // the next outlier
	for j := range n {
		src := m.idx[j*m.rowBytes : (j+1)*m.rowBytes]
		if m.bits == 5 {
			unpack5(codes, src, &ident)
		} else {
			unpack6(codes, src, &ident)
		}
		var count [64]int32
		for _, c := range codes {
			count[int(c)&63]++
		}
		// The row's outliers, [o, oe), replace their codes' centroids.
		oe := o
		mx := 0.0
		for ; oe < m.nOut && int(le.Uint32(m.outPos[4*oe:]))/k == j; oe++ {
			count[int(codes[int(le.Uint32(m.outPos[4*oe:]))%k])]--
			mx = math.Max(mx, math.Abs(float64(math.Float32frombits(le.Uint32(m.outVal[4*oe:])))))
		}
		for c := range nc {
			if count[c] > 0 {
				mx = math.Max(mx, math.Abs(float64(cent[c])))
			}
		}
		// As backend.QuantizeRowInt8 rounds.
		var s float32
		var qc [64]int8
		round := func(v float32) int8 { return 0 }
		if mx > 0 {
			s = float32(mx / 127)
			inv := 1 / float64(s)
			round = func(v float32) int8 { return int8(max(-127, min(127, math.RoundToEven(float64(v)*inv)))) }
			for c := range nc {
				qc[c] = round(cent[c])
			}
		}
		base := dst.Index(j, 0)
		var t int32
		// A group of four columns is four consecutive bytes of the
		// panel layout, groups a panel's width (64 bytes) apart.
		p := 0
		for ; p+backend.Int8Group <= k; p += backend.Int8Group {
			c := codes[p : p+4 : p+4]
			d := q[base+p*backend.Int8Panel : base+p*backend.Int8Panel+4 : base+p*backend.Int8Panel+4]
			d[0], d[1], d[2], d[3] = qc[int(c[0])&63], qc[int(c[1])&63], qc[int(c[2])&63], qc[int(c[3])&63]
			t += int32(d[0]) + int32(d[1]) + int32(d[2]) + int32(d[3])
		}
		for ; p < k; p++ {
			v := qc[int(codes[p])&63]
			q[base+p/backend.Int8Group*(backend.Int8Panel*backend.Int8Group)+p%backend.Int8Group] = v
			t += int32(v)
		}
		for ; o < oe; o++ {
			p := int(le.Uint32(m.outPos[4*o:])) % k
			v := round(math.Float32frombits(le.Uint32(m.outVal[4*o:])))
			i := base + p/backend.Int8Group*(backend.Int8Panel*backend.Int8Group) + p%backend.Int8Group
			t += int32(v) - int32(q[i])
			q[i] = v
		}
		dst.Scale[j], dst.Sum[j] = s, t
	}
	for j := n; j < np; j++ {
		dst.Scale[j], dst.Sum[j] = 0, 0
	}
}

// int8Row is int8's row of codes.
type int8Row struct{ codes []float32 }

// int8Rows keeps int8's row buffers across decodes.
var int8Rows = freelist.List[*int8Row]{Max: 4}

// spreadPanels is packPanels for codes of b < 4 bits (rows of rb bytes,
// lowest bits first, as the dictionary codec packs them): each code goes
// into a nibble of backend.Int4's panel layout. dst must be zeroed where
// the layout pads.
func spreadPanels(dst, idx []byte, n, k, rb int, b uint) {
	le := binary.LittleEndian
	_, kp := backend.Int8Dims(n, k)
	mask := uint32(1)<<b - 1
	for j := range n {
		row := idx[j*rb : (j+1)*rb]
		base := j/backend.Int8Panel*backend.Int8Panel*kp/2 + j%backend.Int8Panel*backend.Int8Group
		p := 0
		// Eight codes take b bytes, starting on a byte; they become one
		// 4-byte word of the panel layout, byte g holding codes g and 4+g.
		if b == 2 {
			for ; p+8 <= k; p += 8 {
				v := uint32(row[p/4]) | uint32(row[p/4+1])<<8
				le.PutUint32(dst[base+p/8*64:], spread2(v&0xff)|spread2(v>>8)<<4)
			}
		} else {
			for ; p+8 <= k; p += 8 {
				o := p / 8 * 3
				v := uint32(row[o]) | uint32(row[o+1])<<8 | uint32(row[o+2])<<16
				le.PutUint32(dst[base+p/8*64:], spread3(v&0xfff)|spread3(v>>12)<<4)
			}
		}
		for ; p < k; p++ {
			o := uint(p) * b
			v := uint32(row[o/8]) >> (o % 8)
			if o%8+b > 8 {
				v |= uint32(row[o/8+1]) << (8 - o%8)
			}
			c := byte(v & mask)
			i := base + p/8*64 + p%backend.Int8Group
			sh := p % 8 / backend.Int8Group * 4
			dst[i] = dst[i]&^(15<<sh) | c<<sh
		}
	}
}

// spread2 moves the four 2-bit fields of x (< 2⁸) into the low bits of
// four bytes.
func spread2(x uint32) uint32 {
	x = (x | x<<12) & 0x000f000f
	return (x | x<<6) & 0x03030303
}

// spread3 moves the four 3-bit fields of x (< 2¹²) into the low bits of
// four bytes.
func spread3(x uint32) uint32 {
	x = (x | x<<10) & 0x003f003f
	return (x | x<<5) & 0x07070707
}

// spreadNibbles moves the four nibbles of x (< 2¹⁶) into the low nibbles
// of four bytes.
func spreadNibbles(x uint32) uint32 {
	x = (x | x<<8) & 0x00ff00ff
	return (x | x<<4) & 0x0f0f0f0f
}

// parseHeader checks blob's header and that the lengths it states are
// consistent with each other, with the codec and with len(blob).
func parseHeader(blob []byte) (header, error) {
	var h header
	if len(blob) < headerSize {
		return h, fmt.Errorf("quant: decode: blob of %d bytes is shorter than the %d-byte header", len(blob), headerSize)
	}
	if string(blob[:4]) != magic {
		return h, fmt.Errorf("quant: decode: bad magic %q, want %q", blob[:4], magic)
	}
	if blob[4] != version && blob[4] != versionInt8 {
		return h, fmt.Errorf("quant: decode: format version %d, this build reads versions %d and %d", blob[4], version, versionInt8)
	}
	le := binary.LittleEndian
	if got, want := crc32.Checksum(blob[:32], castagnoli), le.Uint32(blob[32:]); got != want {
		return h, fmt.Errorf("quant: decode: header checksum %#08x, header says %#08x", got, want)
	}
	h = header{
		fid:       Fidelity(blob[5]),
		codec:     codec(blob[6]),
		n:         int(le.Uint32(blob[8:])),
		k:         int(le.Uint32(blob[12:])),
		centroids: int(le.Uint32(blob[16:])),
		outliers:  int(le.Uint32(blob[20:])),
		rawLen:    int(le.Uint32(blob[24:])),
		storedLen: int(le.Uint32(blob[28:])),
	}
	if !h.fid.Valid() {
		return h, fmt.Errorf("quant: decode: fidelity %d is not one of %v", int(h.fid), AllFidelities())
	}
	switch flags := blob[7]; {
	case flags&flagLZ4 != 0:
		return h, fmt.Errorf("quant: decode: payload is lz4-compressed (header flags %#x), which this build no longer reads; re-encode the %d×%d matrix", flags, h.n, h.k)
	case flags&^flagPanel4 != 0:
		return h, fmt.Errorf("quant: decode: unknown header flags %#x", flags)
	case flags == flagPanel4 && !panelInPlace(h):
		return h, fmt.Errorf("quant: decode: header flags say 4-bit codes in panel layout, but the blob is codec %d at fidelity %v, %d×%d", h.codec, h.fid, h.n, h.k)
	}
	h.flags = blob[7]
	if h.n < 0 || h.k < 0 || (h.k > 0 && h.n > maxElems/h.k) {
		return h, fmt.Errorf("quant: decode: dims %d×%d exceed %d weights", h.n, h.k, maxElems)
	}
	if (h.codec == codecInt8) != (blob[4] == versionInt8) {
		return h, fmt.Errorf("quant: decode: codec %d in a version %d blob (the int8 codec is version %d, the others %d)", h.codec, blob[4], versionInt8, version)
	}
	if h.storedLen != len(blob)-headerSize {
		return h, fmt.Errorf("quant: decode: header states a %d-byte payload, blob holds %d (truncated or padded)", h.storedLen, len(blob)-headerSize)
	}
	if h.rawLen != h.storedLen {
		return h, fmt.Errorf("quant: decode: payload length %d differs from stored length %d", h.rawLen, h.storedLen)
	}
	switch h.codec {
	case codecFP32, codecFP16, codecLinear8, codecInt8:
		if fidelityOf(h.codec) != h.fid {
			return h, fmt.Errorf("quant: decode: codec %d cannot hold fidelity %v", h.codec, h.fid)
		}
	case codecDict:
		if h.fid > Bits8 {
			return h, fmt.Errorf("quant: decode: dictionary codec cannot hold fidelity %v", h.fid)
		}
	default:
		return h, fmt.Errorf("quant: decode: unknown codec %d", h.codec)
	}
	nk := uint64(h.n) * uint64(h.k)
	var want uint64
	wantCent, wantOut := 0, 0
	switch h.codec {
	case codecFP32:
		want = 4 * nk
	case codecFP16:
		want = 2 * nk
	case codecLinear8:
		want = 8*uint64(h.n) + nk
	case codecInt8:
		if h.k > backend.MaxInt8K {
			return h, fmt.Errorf("quant: decode: int8 matrix of %d columns, at most %d allowed", h.k, backend.MaxInt8K)
		}
		np, kp := backend.Int8Dims(h.n, h.k)
		want = 8*uint64(np) + uint64(np)*uint64(kp)
	case codecDict:
		wantCent = 1 << h.fid
		if h.outliers < 0 || uint64(h.outliers) > nk {
			return h, fmt.Errorf("quant: decode: %d outliers in a %d×%d matrix", h.outliers, h.n, h.k)
		}
		wantOut = h.outliers
		want = 4*uint64(wantCent) + 8*uint64(h.outliers) + uint64(h.n)*uint64(rowBytes(h.k, int(h.fid)))
	}
	if h.centroids != wantCent {
		return h, fmt.Errorf("quant: decode: %d centroids, fidelity %v needs %d", h.centroids, h.fid, wantCent)
	}
	if h.outliers != wantOut {
		return h, fmt.Errorf("quant: decode: %d outliers stated for a codec without outliers", h.outliers)
	}
	if uint64(h.rawLen) != want {
		return h, fmt.Errorf("quant: decode: payload of %d bytes, a %d×%d matrix at fidelity %v needs %d", h.rawLen, h.n, h.k, h.fid, want)
	}
	return h, nil
}

// fidelityOf is the fidelity a single-fidelity codec stores.
func fidelityOf(c codec) Fidelity {
	switch c {
	case codecFP32:
		return FP32
	case codecFP16:
		return FP16
	case codecLinear8, codecInt8:
		return Bits8
	}
	return 0
}

// decodeInt8In builds in m the backend.Int8 of an int8 payload (its
// length already checked), viewing the panels in place and copying scales
// and sums into m's own, reused when they are large enough. It checks that
// scales are finite and non-negative, sums within ±128·K, and the padding
// (rows past N, columns past K) zero; the integers themselves are the
// store checksum's to vouch for.
func decodeInt8In(m *backend.Int8, payload []byte, n, k int) error {
	np, kp := backend.Int8Dims(n, k)
	le := binary.LittleEndian
	scale, sum := m.Scale[:0], m.Sum[:0]
	if cap(scale) < np || cap(sum) < np {
		scale, sum = make([]float32, np), make([]int32, np)
	}
	*m = backend.Int8{N: n, K: k, Scale: scale[:np], Sum: sum[:np]}
	for j := range np {
		s := math.Float32frombits(le.Uint32(payload[4*j:]))
		sum := int32(le.Uint32(payload[4*np+4*j:]))
		if !finite(s) || s < 0 || sum < -128*int32(k) || sum > 128*int32(k) || j >= n && (s != 0 || sum != 0) {
			return fmt.Errorf("quant: decode: int8 row %d has scale %v and sum %d", j, s, sum)
		}
		m.Scale[j], m.Sum[j] = s, sum
	}
	q := payload[8*np:]
	if len(q) > 0 {
		m.Q = unsafe.Slice((*int8)(unsafe.Pointer(&q[0])), len(q))
	}
	if np != n || kp != k {
		for j := range np {
			for p := range kp {
				if (j >= n || p >= k) && m.Q[m.Index(j, p)] != 0 {
					return fmt.Errorf("quant: decode: int8 padding at row %d column %d is not zero", j, p)
				}
			}
		}
	}
	return nil
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// littleEndian reports whether the host stores a uint32 least significant
// byte first, as blobs do, so a payload can be viewed as []float32 in place.
func littleEndian() bool {
	x := uint32(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}
