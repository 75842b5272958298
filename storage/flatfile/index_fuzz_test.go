package flatfile

import (
	"encoding/binary"
	"hash/crc32"
	"reflect"
	"testing"

	"github.com/wrxlabs/wrx/storage"
)

// FuzzDecodeIndex feeds arbitrary bytes to the index decoder. It must not
// panic or allocate for entries the bytes cannot hold; an accepted index
// must describe sorted, non-overlapping, aligned blobs inside the data
// file, and encode back to the same entries. Each input is also tried with
// its trailer checksum re-sealed, so that the fuzzer reaches the checks
// behind it.
func FuzzDecodeIndex(f *testing.F) {
	f.Add(encodeIndex(nil, 0))
	f.Add(encodeIndex([]entry{{key: "a", offset: 0, size: 10, crc: 1}}, storage.Align))
	f.Add(encodeIndex([]entry{
		{key: "L00/H00/attn/4", offset: 0, size: 5000, crc: 7},
		{key: "emb/word", offset: 2 * storage.Align, size: storage.Align, crc: 9},
		{key: "manifest", offset: 3 * storage.Align, size: 0, crc: 0},
	}, 3*storage.Align))
	f.Add(encodeIndex([]entry{{key: "a", offset: 0, size: 10}, {key: "b", offset: 0, size: 10}}, storage.Align)) // overlap
	f.Fuzz(func(t *testing.T, b []byte) {
		check(t, b)
		if len(b) >= headerLen+trailerLen {
			c := append([]byte(nil), b...)
			body := c[:len(c)-trailerLen]
			binary.LittleEndian.PutUint32(c[len(body):], crc32.Checksum(body, castagnoli))
			check(t, c)
		}
	})
}

func check(t *testing.T, b []byte) {
	entries, dataLen, err := decodeIndex(b)
	if err != nil {
		return
	}
	if dataLen < 0 || dataLen%storage.Align != 0 {
		t.Fatalf("data length %d accepted", dataLen)
	}
	var end int64
	for i, e := range entries {
		if i > 0 && entries[i-1].key >= e.key {
			t.Fatalf("entries out of order: %q then %q", entries[i-1].key, e.key)
		}
		if e.offset%storage.Align != 0 || e.size < 0 || e.offset < 0 || e.offset+e.size > dataLen {
			t.Fatalf("entry %q at %d+%d in a %d-byte data file", e.key, e.offset, e.size, dataLen)
		}
		end = max(end, e.offset+e.size)
	}
	for i, a := range entries {
		for _, c := range entries[i+1:] {
			if a.offset < c.offset+c.size && c.offset < a.offset+a.size {
				t.Fatalf("entries %q and %q overlap", a.key, c.key)
			}
		}
	}
	again, dl, err := decodeIndex(encodeIndex(entries, dataLen))
	if err != nil || dl != dataLen || !reflect.DeepEqual(again, entries) && len(entries) > 0 {
		t.Fatalf("re-encoded index decodes to %d entries, %d bytes, %v; want %d, %d", len(again), dl, err, len(entries), dataLen)
	}
}
