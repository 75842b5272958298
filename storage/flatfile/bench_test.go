package flatfile_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wrxlabs/wrx/storage"
	"github.com/wrxlabs/wrx/storage/flatfile"
)

// BenchmarkRead compares the read paths: a whole blob into an aligned
// buffer (one direct read), the same into an unaligned buffer (bounced),
// a whole blob whose size is not a multiple of 4 KiB into an aligned buffer
// (its last block is partial) with ReadAt, which must bounce that block,
// and with ReadAligned, which lands it in the buffer's slack, and a 1.5 KiB
// embedding-row-sized read at an unaligned offset. With direct IO every
// iteration goes to the device.
func BenchmarkRead(b *testing.B) {
	ctx := context.Background()
	dir := filepath.Join(b.TempDir(), "s")
	const size = 393_216 // a 4-bit FFN shard blob of BERT-base
	const oddSize = size + 1000
	writeStore(b, dir, size, oddSize)
	s, err := flatfile.Open(ctx, dir, storage.OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.Logf("direct IO: %v", s.Direct())
	const key, oddKey = "L00/H00/attn/q8", "L01/H00/attn/q8"
	for _, bc := range []struct {
		name    string
		key     string
		dst     []byte
		off     int64
		aligned bool // ReadAligned rather than ReadAt
	}{
		{"whole/aligned", key, storage.AlignedBuffer(size), 0, false},
		{"whole/unaligned", key, storage.AlignedBuffer(size + 1)[1:], 0, false},
		{"whole-odd/aligned", oddKey, storage.AlignedBuffer(oddSize), 0, false},
		{"whole-odd/aligned/ReadAligned", oddKey, storage.AlignedBuffer(oddSize), 0, true},
		{"row/1536B", key, make([]byte, 1536), 1536 * 37, false},
	} {
		read := s.ReadAt
		if bc.aligned {
			read = s.ReadAligned
		}
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.dst)))
			for b.Loop() {
				if _, err := read(ctx, bc.key, bc.dst, bc.off); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
