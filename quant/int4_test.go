package quant

import (
	"encoding/binary"
	"math"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/backend"
)

// TestInt4Repack checks that a 2-, 3- or 4-bit blob decodes to a
// backend.Int4 whose codes, centroids (padded with zeros to 16) and
// outliers are the blob's (read here straight from its bytes, bit by
// bit), that DecodeRows gives the exact weights the row layout stores,
// and that the Matrix no longer references the blob.
func TestInt4Repack(t *testing.T) {
	for _, bits := range []Fidelity{Bits2, Bits3, Bits4} {
		for _, s := range [][2]int{{1, 1}, {3, 17}, {16, 16}, {17, 33}, {32, 384}, {40, 100}, {5, 21}} {
			testInt4Repack(t, bits, s[0], s[1])
		}
	}
}

func testInt4Repack(t *testing.T, bits Fidelity, n, k int) {
	t.Helper()
	w := gaussianMatrix(n, k, uint64(7*n+k))
	for i := 0; i < n*k; i += 97 {
		w[i] = 3 // outliers
	}
	blob := mustEncode(t, w, n, k, bits)
	m, err := Decode(blob)
	if err != nil {
		t.Fatal(err)
	}
	q := m.Int4()
	if q == nil {
		t.Fatalf("%d bits, %d×%d: no Int4", bits, n, k)
	}
	if m.idx != nil || m.cent != nil || m.outPos != nil || m.outVal != nil {
		t.Errorf("%d bits, %d×%d: the decoded matrix still views the blob", bits, n, k)
	}
	// The blob's own view of the weights.
	le := binary.LittleEndian
	p := blob[headerSize:]
	nOut := int(le.Uint32(blob[20:]))
	nc := 1 << bits
	var cent [16]float32
	for j := range nc {
		cent[j] = math.Float32frombits(le.Uint32(p[4*j:]))
	}
	pos, val := p[4*nc:4*nc+4*nOut], p[4*nc+4*nOut:4*nc+8*nOut]
	idx := p[4*nc+8*nOut:]
	rb := (k*int(bits) + 7) / 8
	want := make([]float32, n*k)
	for j := range n {
		for c := range k {
			var code byte
			for b := range int(bits) {
				bit := c*int(bits) + b
				code |= (idx[j*rb+bit/8] >> (bit % 8) & 1) << b
			}
			if got := q.Code(j, c); got != code {
				t.Fatalf("%d bits, %d×%d: code(%d, %d) = %d, blob says %d", bits, n, k, j, c, got, code)
			}
			want[j*k+c] = cent[code]
		}
	}
	for o := range nOut {
		want[le.Uint32(pos[4*o:])] = math.Float32frombits(le.Uint32(val[4*o:]))
	}
	if len(q.Outliers) != nOut || len(q.Tables) != 1 || q.Tables[0].Centroids != cent {
		t.Errorf("%d bits, %d×%d: %d outliers and tables %v, blob has %d and centroids %v", bits, n, k, len(q.Outliers), q.Tables, nOut, cent)
	}
	if diff := cmp.Diff(want, decodeAll(t, m)); diff != "" {
		t.Errorf("%d bits, %d×%d: DecodeRows differs from the blob's weights (-blob +decoded):\n%s", bits, n, k, diff)
	}
	// Sum is the sum of the integers of each real row.
	for j := range n {
		var sum int32
		for c := range k {
			sum += int32(q.Tables[0].Q[q.Code(j, c)])
		}
		if q.Sum[j] != sum {
			t.Errorf("%d bits, %d×%d: Sum[%d] = %d, want %d", bits, n, k, j, q.Sum[j], sum)
		}
	}
}

// dictReference decodes a dictionary blob with the codec's own row decoder
// (decodeDict), as every width decoded before its codes went into Int4.
func dictReference(t *testing.T, blob []byte) []float32 {
	t.Helper()
	h, err := parseHeader(blob)
	if err != nil || h.codec != codecDict {
		t.Fatalf("not a dictionary blob: codec %d, %v", h.codec, err)
	}
	p := blob[headerSize:]
	c, o := h.centroids, h.outliers
	m := &Matrix{codec: codecDict, n: h.n, k: h.k, bits: int(h.fid), rowBytes: rowBytes(h.k, int(h.fid)),
		cent: p[:4*c], nOut: o, outPos: p[4*c : 4*c+4*o], outVal: p[4*c+4*o : 4*c+8*o], idx: p[4*c+8*o:]}
	d := make([]float32, h.n*h.k)
	m.decodeDict(d, 0, h.n)
	return d
}

// TestInt4MatchesDictDecode: the Int4 form of 2-, 3- and 4-bit blobs, of
// random matrices and of every shard matrix of wrx-sst2-small, decodes to
// the very weights decodeDict reads from the blob, bit for bit, and the
// same again from a Matrix reused across widths (DecodeInto).
func TestInt4MatchesDictDecode(t *testing.T) {
	var reused Matrix
	check := func(name string, w []float32, n, k int, bits Fidelity) {
		blob := mustEncode(t, w, n, k, bits)
		want := dictReference(t, blob)
		if err := DecodeInto(&reused, blob); err != nil {
			t.Fatal(err)
		}
		if reused.Int4() == nil {
			t.Fatalf("%s at %d bits: no Int4", name, bits)
		}
		got := make([]float32, n*k)
		reused.DecodeRows(got, 0, n)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s at %d bits: weight (%d, %d) is %v, the blob's %v", name, bits, i/k, i%k, got[i], want[i])
			}
		}
	}
	for _, s := range [][2]int{{7, 9}, {16, 48}, {33, 70}, {64, 384}} {
		w := gaussianMatrix(s[0], s[1], uint64(s[0]*131+s[1]))
		for i := 0; i < len(w); i += 53 {
			w[i] *= 9 // outliers
		}
		for _, bits := range []Fidelity{Bits2, Bits3, Bits4} {
			check("random", w, s[0], s[1], bits)
		}
	}
	if testing.Short() {
		return
	}
	for i, sm := range loadShardMatrices(t) {
		if i%7 != 0 { // every attention and FFN part, across layers and heads
			continue
		}
		for _, bits := range []Fidelity{Bits2, Bits3} {
			check(sm.name, sm.w, sm.n, sm.k, bits)
		}
	}
}

// TestRepackInt4InPlace checks that a blob repacked in place decodes to
// the same matrix as the blob it was, viewing its codes where they are,
// and that blobs that cannot be repacked in place are left alone.
func TestRepackInt4InPlace(t *testing.T) {
	for _, s := range [][2]int{{16, 16}, {32, 384}, {48, 128}, {3, 17}, {16, 24}} {
		n, k := s[0], s[1]
		w := gaussianMatrix(n, k, uint64(5*n+k))
		for i := 0; i < n*k; i += 61 {
			w[i] = -4
		}
		blob := mustEncode(t, w, n, k, Bits4)
		orig := append([]byte(nil), blob...)
		did, err := RepackInt4(blob)
		if err != nil {
			t.Fatal(err)
		}
		if want := n%16 == 0 && k%16 == 0; did != want {
			t.Fatalf("%d×%d: RepackInt4 rewrote %v, want %v", n, k, did, want)
		}
		if again, err := RepackInt4(blob); err != nil || again {
			t.Fatalf("%d×%d: a second RepackInt4 gives %v, %v; want false, nil", n, k, again, err)
		}
		a, err := Decode(orig)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Decode(blob)
		if err != nil {
			t.Fatalf("%d×%d: decoding the repacked blob: %v", n, k, err)
		}
		if diff := cmp.Diff(decodeAll(t, a), decodeAll(t, b)); diff != "" {
			t.Errorf("%d×%d: the repacked blob decodes differently (-orig +repacked):\n%s", n, k, diff)
		}
		qa, qb := a.Int4(), b.Int4()
		if !cmp.Equal(qa.Codes, qb.Codes) || !cmp.Equal(qa.Sum, qb.Sum) || !cmp.Equal(qa.Outliers, qb.Outliers) {
			t.Errorf("%d×%d: the repacked blob's Int4 differs", n, k)
		}
		if did && &qb.Codes[0] != &blob[len(blob)-len(qb.Codes)] {
			t.Errorf("%d×%d: the repacked blob's codes are copied, not viewed", n, k)
		}
	}
}

// TestHeldBytes: a decoded matrix holds, besides the blob it views, its
// struct and what its integer forms copy or compute: a scale and a sum per
// padded output row for int8, those and the outliers and tables for 4 bits,
// and the codes in nibbles besides (half a byte per weight, padded to
// 48×112): spread from 3 bits, or repacked from 4 bits since 40×100 cannot
// be repacked in place; at 6 bits the int8 form, a byte per weight. fp32
// and fp16 only view the blob.
func TestHeldBytes(t *testing.T) {
	const n, k = 40, 100
	w := gaussianMatrix(n, k, 9)
	for i := 0; i < n*k; i += 97 {
		w[i] = 3 // outliers
	}
	base := int64(unsafe.Sizeof(Matrix{}))
	for _, c := range []struct {
		f    Fidelity
		more func(m *Matrix) int64 // the least it must hold besides base
	}{
		{FP32, func(*Matrix) int64 { return 0 }},
		{FP16, func(*Matrix) int64 { return 0 }},
		{Bits6, func(*Matrix) int64 { return 8*48 + 48*112 }},
		{Bits3, func(m *Matrix) int64 {
			return 8*48 + 48*112/2 + int64(len(m.Int4().Outliers))*int64(unsafe.Sizeof(backend.Int4Outlier{}))
		}},
		{Bits8, func(m *Matrix) int64 { return 8 * 48 }},
		{Bits4, func(m *Matrix) int64 {
			return 8*48 + 48*112/2 + int64(len(m.Int4().Outliers))*int64(unsafe.Sizeof(backend.Int4Outlier{}))
		}},
	} {
		m, err := Decode(mustEncode(t, w, n, k, c.f))
		if err != nil {
			t.Fatal(err)
		}
		got, least := m.HeldBytes(), base+c.more(m)
		// The view-only codecs hold exactly their struct; the integer
		// forms at least their per-row arrays, and not more than a few
		// hundred bytes of struct and slack besides.
		if got < least || got > least+1024 || (c.more(m) == 0 && got != base) {
			t.Errorf("%d bits: HeldBytes %d, want %d (+ at most 1 KiB of slack for the integer forms)", c.f, got, least)
		}
	}
}

// TestInt8FormMatchesQuantize: the int8 form of 5- and 6-bit blobs, of
// random matrices with outliers and of wrx-sst2-small's shard matrices, is
// exactly backend.QuantizeInt8 of the weights the blob stores (decodeDict).
func TestInt8FormMatchesQuantize(t *testing.T) {
	check := func(name string, w []float32, n, k int, bits Fidelity) {
		blob := mustEncode(t, w, n, k, bits)
		want, err := backend.QuantizeInt8(dictReference(t, blob), n, k)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(blob)
		if err != nil {
			t.Fatal(err)
		}
		got := m.Int8()
		if got == nil {
			t.Fatalf("%s at %d bits: no int8 form", name, bits)
		}
		if !cmp.Equal(want.Q, got.Q) || !cmp.Equal(want.Scale, got.Scale) || !cmp.Equal(want.Sum, got.Sum) {
			t.Fatalf("%s at %d bits: int8 form differs from QuantizeInt8 of the weights", name, bits)
		}
	}
	for _, s := range [][2]int{{1, 1}, {7, 9}, {16, 48}, {33, 70}, {64, 384}} {
		w := gaussianMatrix(s[0], s[1], uint64(s[0]*17+s[1]))
		for i := 0; i < len(w); i += 41 {
			w[i] *= 12 // outliers, some the largest of their row
		}
		for _, bits := range []Fidelity{Bits5, Bits6} {
			check("random", w, s[0], s[1], bits)
		}
	}
	if testing.Short() {
		return
	}
	for i, sm := range loadShardMatrices(t) {
		if i%5 != 0 {
			continue
		}
		for _, bits := range []Fidelity{Bits5, Bits6} {
			check(sm.name, sm.w, sm.n, sm.k, bits)
		}
	}
}
