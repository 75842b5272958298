package storagetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/wrxlabs/wrx/storage"
)

// testReadBatch reads every blob of the fixture, in put order, with
// storage.ReadBatch: into aligned buffers with slack, into unaligned ones
// without, and in runs broken by a skipped blob. Every blob must arrive
// whole, and nothing may be written outside the bytes ReadAligned may touch.
func testReadBatch(t *testing.T, c target) {
	ctx := context.Background()
	blobs := fixture()
	write(t, c.uri, blobs, storage.CreateOptions{})
	s := c.open(t)
	keys := sortedKeys(blobs)
	for _, tc := range []struct {
		name    string
		pre     int  // offset of each dst in its arena
		limited bool // capacity cut to len(dst)
		skip    int  // leave out every skip-th key (0: none)
	}{
		{"aligned", 0, false, 0},
		{"aligned-limited", 0, true, 0},
		{"unaligned", 100, false, 0},
		{"gaps", 0, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reads []storage.BlobRead
			var arenas [][]byte
			for i, k := range keys {
				if tc.skip > 0 && i%tc.skip == tc.skip-1 {
					continue
				}
				dst, arena := guarded(tc.pre, len(blobs[k]), tc.limited)
				reads = append(reads, storage.BlobRead{Key: k, Dst: dst})
				arenas = append(arenas, arena)
			}
			if err := storage.ReadBatch(ctx, s, reads); err != nil {
				t.Fatalf("ReadBatch: %v", err)
			}
			for i, r := range reads {
				if !bytes.Equal(r.Dst, blobs[r.Key]) {
					t.Errorf("ReadBatch: %q: the bytes differ from what was put", r.Key)
				}
				checkGuard(t, "ReadBatch "+r.Key, arenas[i], r.Dst, tc.pre, true)
			}
		})
	}
	t.Run("prefix", func(t *testing.T) {
		k := "emb/rows"
		dst := storage.AlignedBuffer(100)
		if err := storage.ReadBatch(ctx, s, []storage.BlobRead{{Key: k, Dst: dst}}); err != nil {
			t.Fatalf("ReadBatch of a prefix: %v", err)
		}
		if !bytes.Equal(dst, blobs[k][:100]) {
			t.Errorf("ReadBatch of a prefix of %q: the bytes differ", k)
		}
	})
	errCase := func(name string, ctx context.Context, reads []storage.BlobRead, want error, key string) {
		t.Helper()
		err := storage.ReadBatch(ctx, s, reads)
		if !errors.Is(err, want) {
			t.Errorf("ReadBatch %s: err = %v, want %v", name, err, want)
		}
		if err != nil && !strings.Contains(err.Error(), key) {
			t.Errorf("ReadBatch %s: error %q does not name %q", name, err, key)
		}
	}
	a, b := keys[0], keys[1]
	buf := func(k string, extra int) []byte { return storage.AlignedBuffer(len(blobs[k]) + extra) }
	errCase("with a missing key", ctx, []storage.BlobRead{{Key: a, Dst: buf(a, 0)}, {Key: "nope", Dst: make([]byte, 1)}}, storage.ErrNotFound, "nope")
	errCase("past the end of a blob", ctx, []storage.BlobRead{{Key: a, Dst: buf(a, 0)}, {Key: b, Dst: buf(b, 1)}}, io.EOF, b)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	errCase("with a cancelled context", cancelled, []storage.BlobRead{{Key: a, Dst: buf(a, 0)}, {Key: b, Dst: buf(b, 0)}}, context.Canceled, a)
	if err := storage.ReadBatch(ctx, s, nil); err != nil {
		t.Errorf("ReadBatch of nothing: %v", err)
	}
	s.Close()
	errCase("after Close", ctx, []storage.BlobRead{{Key: a, Dst: buf(a, 0)}}, storage.ErrClosed, a)
	if storage.Adjacent(s, a, b) {
		t.Errorf("Adjacent(%q, %q) after Close = true", a, b)
	}
}
