package quant

import (
	"encoding/binary"
	"math"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/backend"
)

// TestInt4Repack checks that a 4-bit blob decodes to a backend.Int4 whose
// codes, centroids and outliers are the blob's (read here straight from
// its bytes), that DecodeRows gives the exact weights the row layout
// stores, and that the Matrix no longer references the blob.
func TestInt4Repack(t *testing.T) {
	for _, s := range [][2]int{{1, 1}, {3, 17}, {16, 16}, {17, 33}, {32, 384}, {40, 100}} {
		n, k := s[0], s[1]
		w := gaussianMatrix(n, k, uint64(7*n+k))
		for i := 0; i < n*k; i += 97 {
			w[i] = 3 // outliers
		}
		blob := mustEncode(t, w, n, k, Bits4)
		m, err := Decode(blob)
		if err != nil {
			t.Fatal(err)
		}
		q := m.Int4()
		if q == nil {
			t.Fatalf("%d×%d: a 4-bit matrix has no Int4", n, k)
		}
		if m.idx != nil || m.cent != nil || m.outPos != nil || m.outVal != nil {
			t.Errorf("%d×%d: the decoded matrix still views the blob", n, k)
		}
		// The blob's own view of the weights.
		le := binary.LittleEndian
		p := blob[headerSize:]
		nOut := int(le.Uint32(blob[20:]))
		var cent [16]float32
		for j := range cent {
			cent[j] = math.Float32frombits(le.Uint32(p[4*j:]))
		}
		pos, val := p[64:64+4*nOut], p[64+4*nOut:64+8*nOut]
		idx := p[64+8*nOut:]
		rb := (k + 1) / 2
		want := make([]float32, n*k)
		for j := range n {
			for c := range k {
				code := idx[j*rb+c/2] >> (4 * (c % 2)) & 15
				if got := q.Code(j, c); got != code {
					t.Fatalf("%d×%d: code(%d, %d) = %d, blob says %d", n, k, j, c, got, code)
				}
				want[j*k+c] = cent[code]
			}
		}
		for o := range nOut {
			want[le.Uint32(pos[4*o:])] = math.Float32frombits(le.Uint32(val[4*o:]))
		}
		if len(q.Outliers) != nOut || len(q.Tables) != 1 || q.Tables[0].Centroids != cent {
			t.Errorf("%d×%d: %d outliers and tables %v, blob has %d and centroids %v", n, k, len(q.Outliers), q.Tables, nOut, cent)
		}
		if diff := cmp.Diff(want, decodeAll(t, m)); diff != "" {
			t.Errorf("%d×%d: DecodeRows differs from the blob's weights (-blob +decoded):\n%s", n, k, diff)
		}
		// Sum is the sum of the integers of each real row.
		for j := range n {
			var sum int32
			for c := range k {
				sum += int32(q.Tables[0].Q[q.Code(j, c)])
			}
			if q.Sum[j] != sum {
				t.Errorf("%d×%d: Sum[%d] = %d, want %d", n, k, j, q.Sum[j], sum)
			}
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
// padded output row for int8, those and the outliers and tables for 4 bits.
// fp32 and the other dictionary widths only view the blob.
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
		{Bits3, func(*Matrix) int64 { return 0 }},
		{Bits8, func(m *Matrix) int64 { return 8 * 48 }},
		{Bits4, func(m *Matrix) int64 {
			return 8*48 + int64(len(m.Int4().Outliers))*int64(unsafe.Sizeof(backend.Int4Outlier{}))
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
