package flatfile

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/wrxlabs/wrx/storage"
)

// TestReadBatchMerges checks that ReadBatch reads a run of blobs put one
// after the other with one preadv, straight into aligned buffers (no
// bounce), and splits the run where a blob cannot join it.
func TestReadBatchMerges(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "s")
	r := rand.New(rand.NewPCG(5, 5))
	sizes := []int{3 * storage.Align, 100, 2*storage.Align + 7, 0, storage.Align + 1}
	w, err := Create(ctx, dir, storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	blobs := map[string][]byte{}
	for i, n := range sizes {
		k := fmt.Sprintf("b%d", i)
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if err := w.Put(ctx, k, b); err != nil {
			t.Fatal(err)
		}
		keys, blobs[k] = append(keys, k), b
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []storage.DirectIO{storage.DirectAuto, storage.DirectOff} {
		t.Run(mode.String(), func(t *testing.T) {
			s, err := Open(ctx, dir, storage.OpenOptions{Direct: mode})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i := 1; i < len(keys); i++ {
				if !s.Adjacent(keys[i-1], keys[i]) {
					t.Errorf("Adjacent(%q, %q) = false for blobs put one after the other", keys[i-1], keys[i])
				}
			}
			if s.Adjacent(keys[1], keys[0]) || s.Adjacent(keys[0], keys[2]) || s.Adjacent(keys[0], "nope") {
				t.Error("Adjacent is true for blobs that are not back to back")
			}
			read := func(unaligned int) []storage.BlobRead {
				reads := make([]storage.BlobRead, len(keys))
				for i, k := range keys {
					dst := storage.AlignedBuffer(len(blobs[k]) + 1)[:len(blobs[k])]
					if i == unaligned {
						dst = storage.AlignedBuffer(len(blobs[k]) + 1)[1 : 1+len(blobs[k])]
					}
					reads[i] = storage.BlobRead{Key: k, Dst: dst}
				}
				runs, bounced := s.runs.Load(), s.bounced.Load()
				if err := s.ReadBatch(ctx, reads); err != nil {
					t.Fatal(err)
				}
				wantRuns, wantBounced := int64(1), int64(0)
				if unaligned >= 0 && s.direct {
					wantRuns, wantBounced = 2, 1 // [0,1] and [3,4] around the bounced 2
				}
				if got := s.runs.Load() - runs; got != wantRuns {
					t.Errorf("unaligned %d: %d merged reads, want %d", unaligned, got, wantRuns)
				}
				if got := s.bounced.Load() - bounced; got != wantBounced {
					t.Errorf("unaligned %d: %d bounced reads, want %d", unaligned, got, wantBounced)
				}
				return reads
			}
			for _, unaligned := range []int{-1, 2} {
				for _, rd := range read(unaligned) {
					if !bytes.Equal(rd.Dst, blobs[rd.Key]) {
						t.Errorf("unaligned %d: %q: bytes differ", unaligned, rd.Key)
					}
				}
			}
		})
	}
}
