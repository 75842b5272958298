package quant

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
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
		if len(q.Outliers) != nOut || q.Centroids != cent {
			t.Errorf("%d×%d: %d outliers and centroids %v, blob has %d and %v", n, k, len(q.Outliers), q.Centroids, nOut, cent)
		}
		if diff := cmp.Diff(want, decodeAll(t, m)); diff != "" {
			t.Errorf("%d×%d: DecodeRows differs from the blob's weights (-blob +decoded):\n%s", n, k, diff)
		}
		// Sum is the sum of the integers of each real row.
		for j := range n {
			var sum int32
			for c := range k {
				sum += int32(q.Table[q.Code(j, c)])
			}
			if q.Sum[j] != sum {
				t.Errorf("%d×%d: Sum[%d] = %d, want %d", n, k, j, q.Sum[j], sum)
			}
		}
	}
}
