package quant

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
)

// smallBlobs returns one small blob per fidelity and one of each 8-bit
// codec Encode no longer writes (linear8, dictionary), each holding an
// outlier.
func smallBlobs(t testing.TB) map[string][]byte {
	t.Helper()
	const n, k = 3, 17
	w := gaussianMatrix(n, k, 21)
	w[20] = 2 // outlier
	blobs := map[string][]byte{}
	for _, f := range AllFidelities() {
		b, err := Encode(w, n, k, f, EncodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		blobs[f.String()] = b
	}
	b, err := encodeLinear8(w, n, k)
	if err != nil {
		t.Fatal(err)
	}
	blobs["8-linear"] = b
	if b, err = encodeDict8(w, n, k, EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
	blobs["8-dict"] = b
	// A 4-bit blob repacked in place (its flag set, its codes in panel
	// layout), which needs dimensions that are multiples of 16.
	w16 := gaussianMatrix(16, 16, 22)
	w16[40] = 2
	if b, err = Encode(w16, 16, 16, Bits4, EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
	if ok, err := RepackInt4(b); !ok || err != nil {
		t.Fatalf("RepackInt4: %v, %v", ok, err)
	}
	blobs["4-panel"] = b
	return blobs
}

// exercise decodes blob and, when that succeeds, reads every row and a
// few row ranges: whatever the bytes, this must not panic.
func exercise(blob []byte) error {
	m, err := Decode(blob)
	if err != nil {
		return err
	}
	n, k := m.Dims()
	buf := make([]float32, n*k)
	m.DecodeRows(buf, 0, n)
	for r := range n {
		m.DecodeRows(buf, r, min(n, r+2))
	}
	return nil
}

// TestCorruptBlobs flips every bit of every small blob. Header flips must
// all be detected; payload flips may decode to other values (the CRC one
// level up catches those) but must never panic or read out of range.
func TestCorruptBlobs(t *testing.T) {
	for name, blob := range smallBlobs(t) {
		for i := range blob {
			for bit := range 8 {
				c := append([]byte(nil), blob...)
				c[i] ^= 1 << bit
				err := exercise(c)
				if i < headerSize && err == nil {
					t.Errorf("%s: flipping bit %d of header byte %d went undetected", name, bit, i)
				}
			}
		}
	}
}

// TestTruncatedBlobs cuts every blob at every length and appends a byte:
// all must be refused.
func TestTruncatedBlobs(t *testing.T) {
	for name, blob := range smallBlobs(t) {
		if err := exercise(blob); err != nil {
			t.Fatalf("%s: intact blob: %v", name, err)
		}
		for l := range len(blob) {
			if err := exercise(blob[:l]); err == nil {
				t.Errorf("%s: blob truncated to %d of %d bytes decoded", name, l, len(blob))
			}
		}
		if err := exercise(append(append([]byte(nil), blob...), 0)); err == nil {
			t.Errorf("%s: blob with a trailing byte decoded", name)
		}
	}
}

// TestLZ4FlagRejected checks that a blob whose header has the retired lz4
// flag set, as version 1 once allowed, is refused with an error saying so
// rather than read as a plain payload or reported as corrupt.
func TestLZ4FlagRejected(t *testing.T) {
	for name, blob := range smallBlobs(t) {
		c := append([]byte(nil), blob...)
		c[7] |= flagLZ4
		binary.LittleEndian.PutUint32(c[32:], crc32.Checksum(c[:32], castagnoli))
		_, err := Decode(c)
		if err == nil || !strings.Contains(err.Error(), "lz4-compressed") {
			t.Errorf("%s with the lz4 flag: Decode error %v, want one saying the payload is lz4-compressed", name, err)
		}
	}
}

// TestVersionMatchesCodec: the int8 codec is version 2 and every other
// codec version 1; a blob claiming another pairing, or another version, is
// refused with an error naming the version (the header re-sealed, as a
// writer of that version would).
func TestVersionMatchesCodec(t *testing.T) {
	for name, blob := range smallBlobs(t) {
		for _, v := range []byte{1, 2, 3} {
			if v == blob[4] {
				continue
			}
			c := append([]byte(nil), blob...)
			c[4] = v
			binary.LittleEndian.PutUint32(c[32:], crc32.Checksum(c[:32], castagnoli))
			_, err := Decode(c)
			if err == nil || !strings.Contains(err.Error(), "version") {
				t.Errorf("%s as version %d: Decode error %v, want one naming the version", name, v, err)
			}
		}
	}
}

// FuzzDecode feeds arbitrary bytes to Decode and DecodeRows; the seed
// corpus in testdata/fuzz/FuzzDecode holds valid blobs of every codec.
func FuzzDecode(f *testing.F) {
	for _, b := range smallBlobs(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, blob []byte) {
		_ = exercise(blob)
		// The header checksum would stop nearly every mutation of the
		// header fields; re-sealing it lets the fuzzer explore their
		// combinations against the validation behind it.
		if len(blob) >= headerSize {
			c := append([]byte(nil), blob...)
			binary.LittleEndian.PutUint32(c[32:], crc32.Checksum(c[:32], castagnoli))
			_ = exercise(c)
		}
	})
}
