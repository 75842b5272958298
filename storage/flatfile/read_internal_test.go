package flatfile

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/storage"
)

// TestBounces checks which reads take a bounce buffer, the copy direct IO
// costs: a whole blob read with ReadAligned (also through the wrappers)
// takes none, ReadAt of a blob that ends in a partial block takes one for
// that block only, and an unaligned read takes one.
func TestBounces(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "s")
	r := rand.New(rand.NewPCG(3, 3))
	blobs := map[string][]byte{"whole": make([]byte, 3*storage.Align), "odd": make([]byte, 3*storage.Align+100), "small": make([]byte, 100)}
	w, err := Create(ctx, dir, storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, b := range blobs {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if err := w.Put(ctx, k, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dir, storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Direct() {
		t.Skipf("no direct IO on the filesystem of %s: nothing is bounced", dir)
	}
	wrapped := storage.Throttle(storage.Faulty(storage.Counting(s)), storage.ThrottleConfig{Latency: time.Nanosecond})

	type readFn func(ctx context.Context, key string, dst []byte, off int64) (int, error)
	aligned := func(st storage.Store) readFn {
		return func(ctx context.Context, key string, dst []byte, off int64) (int, error) {
			return storage.ReadAligned(ctx, st, key, dst, off)
		}
	}
	for _, tc := range []struct {
		name    string
		read    readFn
		key     string
		off     int64
		dst     []byte
		bounces int64
	}{
		{"ReadAligned whole odd blob", s.ReadAligned, "odd", 0, storage.AlignedBuffer(3*storage.Align + 100), 0},
		{"ReadAligned small blob", s.ReadAligned, "small", 0, storage.AlignedBuffer(100), 0},
		{"ReadAligned through Throttle, Faulty, Counting", aligned(wrapped), "odd", 0, storage.AlignedBuffer(3*storage.Align + 100), 0},
		{"ReadAt whole-block blob", s.ReadAt, "whole", 0, storage.AlignedBuffer(3 * storage.Align), 0},
		{"ReadAt whole odd blob", s.ReadAt, "odd", 0, storage.AlignedBuffer(3*storage.Align + 100), 1},
		{"ReadAt through wrappers", wrapped.ReadAt, "odd", 0, storage.AlignedBuffer(3*storage.Align + 100), 1},
		{"ReadAligned with capacity withheld", s.ReadAligned, "odd", 0, storage.AlignedBuffer(3*storage.Align + 100)[: 3*storage.Align+100 : 3*storage.Align+100], 1},
		{"ReadAligned unaligned offset", s.ReadAligned, "odd", 10, storage.AlignedBuffer(1000), 1},
		{"ReadAligned unaligned buffer", s.ReadAligned, "odd", 0, storage.AlignedBuffer(1001)[1:], 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.bounced.Load()
			n, err := tc.read(ctx, tc.key, tc.dst, tc.off)
			if want := blobs[tc.key][tc.off : tc.off+int64(len(tc.dst))]; err != nil || !bytes.Equal(tc.dst[:n], want) {
				t.Fatalf("read = %d, %v; content equal %v", n, err, bytes.Equal(tc.dst[:n], want))
			}
			if got := s.bounced.Load() - before; got != tc.bounces {
				t.Errorf("%d reads took a bounce buffer, want %d", got, tc.bounces)
			}
		})
	}
}
