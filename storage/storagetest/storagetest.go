// Package storagetest is the conformance suite every storage implementation
// runs. An implementation's test calls [Run] with a function that hands out
// fresh URIs of its scheme:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) string {
//			return "file:" + filepath.Join(t.TempDir(), "store")
//		})
//	}
//
// Expected values are always the bytes the test itself put, never something
// an implementation computed.
//
// The sidecar tests (storage.WriteSidecar and its kin) run for drivers that
// implement storage.SidecarDriver and skip for the others.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wrxlabs/wrx/storage"
)

// Run runs the suite, opening stores with default options. newURI must
// return, on every call, the URI of a location that holds no store yet, and
// arrange for its removal when t ends.
func Run(t *testing.T, newURI func(t *testing.T) string) {
	RunWith(t, newURI, storage.OpenOptions{})
}

// RunWith runs the suite, opening stores with opts.
func RunWith(t *testing.T, newURI func(t *testing.T) string, opts storage.OpenOptions) {
	tests := []struct {
		name string
		fn   func(*testing.T, target)
	}{
		{"RoundTrip", testRoundTrip},
		{"ReadAtRanges", testReadAtRanges},
		{"ReadAtCapacity", testReadAtCapacity},
		{"ReadAllReusesBuffer", testReadAllReuse},
		{"ReadBatch", testReadBatch},
		{"Keys", testKeys},
		{"NotFound", testNotFound},
		{"InvisibleBeforeCommit", testInvisibleBeforeCommit},
		{"Abort", testAbort},
		{"WriterMisuse", testWriterMisuse},
		{"PutCopies", testPutCopies},
		{"ExistsAndOverwrite", testExistsAndOverwrite},
		{"ConcurrentReads", testConcurrentReads},
		{"Cancelled", testCancelled},
		{"Closed", testClosed},
		{"SidecarRoundTrip", testSidecarRoundTrip},
		{"SidecarNotFound", testSidecarNotFound},
		{"SidecarBadNames", testSidecarBadNames},
		{"SidecarConcurrent", testSidecarConcurrent},
		{"SidecarStoreUntouched", testSidecarStoreUntouched},
		{"SidecarOverwrite", testSidecarOverwrite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, target{uri: newURI(t), opts: opts}) })
	}
}

// sizes covers the edges of a 4 KiB block and a few shard-like sizes.
var sizes = []int{0, 1, 7, 511, 4095, 4096, 4097, 8191, 12293, 65536, 200003, 1<<20 + 17}

// content returns deterministic pseudo-random bytes for key.
func content(key string, n int) []byte {
	h := fnv.New64a()
	h.Write([]byte(key))
	r := rand.New(rand.NewPCG(h.Sum64(), uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// fixture is a set of blobs with shard-like keys.
func fixture() map[string][]byte {
	m := map[string][]byte{}
	i := 0
	for l := range 3 {
		for h := range 4 {
			for _, part := range []string{"attn", "ffn"} {
				key := fmt.Sprintf("L%02d/H%02d/%s/q%d", l, h, part, 4)
				m[key] = content(key, sizes[i%len(sizes)])
				i++
			}
		}
	}
	m["emb/rows"] = content("emb/rows", 3*4096+1000)
	m["manifest"] = content("manifest", 2345)
	m["resident/ln"] = []byte{}
	return m
}

// write creates a store at uri holding blobs and commits it.
func write(t *testing.T, uri string, blobs map[string][]byte, opts storage.CreateOptions) {
	t.Helper()
	ctx := context.Background()
	w, err := storage.Create(ctx, uri, opts)
	if err != nil {
		t.Fatalf("Create(%s): %v", uri, err)
	}
	defer w.Abort()
	for _, k := range sortedKeys(blobs) {
		if err := w.Put(ctx, k, blobs[k]); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatalf("Commit(%s): %v", uri, err)
	}
}

// target is one fresh location and how the suite opens it.
type target struct {
	uri  string
	opts storage.OpenOptions
}

func (c target) tryOpen(ctx context.Context) (storage.Store, error) {
	return storage.OpenWith(ctx, c.uri, c.opts)
}

// open opens the committed store and closes it when t ends.
func (c target) open(t *testing.T) storage.Store {
	t.Helper()
	s, err := c.tryOpen(context.Background())
	if err != nil {
		t.Fatalf("Open(%s): %v", c.uri, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func testRoundTrip(t *testing.T, c target) {
	ctx := context.Background()
	blobs := fixture()
	write(t, c.uri, blobs, storage.CreateOptions{})
	s := c.open(t)

	keys, err := s.Keys(ctx, "")
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	if diff := cmp.Diff(sortedKeys(blobs), keys); diff != "" {
		t.Errorf("Keys(\"\") mismatch (-want +got):\n%s", diff)
	}
	var buf []byte
	for _, k := range sortedKeys(blobs) {
		want := blobs[k]
		size, err := s.Size(ctx, k)
		if err != nil || size != int64(len(want)) {
			t.Errorf("Size(%q) = %d, %v; want %d", k, size, err, len(want))
		}
		// Aligned path, reusing one buffer across blobs.
		buf, err = storage.ReadAll(ctx, s, k, buf)
		if err != nil {
			t.Fatalf("ReadAll(%q): %v", k, err)
		}
		if !bytes.Equal(buf, want) {
			t.Errorf("ReadAll(%q): content differs from what was put", k)
		}
		// Unaligned destination: one byte into an aligned buffer.
		raw := storage.AlignedBuffer(len(want) + 1)
		dst := raw[1:]
		n, err := s.ReadAt(ctx, k, dst, 0)
		if err != nil || n != len(want) || !bytes.Equal(dst, want) {
			t.Errorf("ReadAt(%q) into unaligned buffer = %d, %v; content equal %v", k, n, err, bytes.Equal(dst[:n], want))
		}
	}
}

// reader is one way to read a store: ReadAt, or ReadAligned, which may
// use the slack after len(dst) up to the next multiple of Align.
type reader struct {
	name  string
	slack bool
	read  func(ctx context.Context, key string, dst []byte, off int64) (int, error)
}

// readers returns ReadAt and storage.ReadAligned on s; the latter uses the
// store's AlignedReader when it has one and its ReadAt otherwise, and must
// honour the AlignedReader contract either way.
func readers(s storage.Store) []reader {
	return []reader{
		{"ReadAt", false, s.ReadAt},
		{"ReadAligned", true, func(ctx context.Context, key string, dst []byte, off int64) (int, error) {
			return storage.ReadAligned(ctx, s, key, dst, off)
		}},
	}
}

const guard = 0xA5

// guarded returns a destination of n bytes at byte pre of a guard-filled
// aligned arena, with capacity to the end of the arena unless limited (cut
// to n with a full slice expression), and the arena.
func guarded(pre, n int, limited bool) (dst, arena []byte) {
	arena = storage.AlignedBuffer(pre + n + 2*storage.Align)
	for i := range arena {
		arena[i] = guard
	}
	if limited {
		return arena[pre : pre+n : pre+n], arena
	}
	return arena[pre : pre+n], arena
}

// checkGuard reports a write outside the bytes a read of len(dst) bytes at
// byte pre of arena may touch: dst itself, and with slack the rest of its
// last Align-byte block as far as cap(dst) reaches.
func checkGuard(t *testing.T, what string, arena, dst []byte, pre int, slack bool) {
	t.Helper()
	end := pre + len(dst)
	if slack {
		end = pre + min(cap(dst), int(storage.AlignUp(int64(len(dst)))))
	}
	for i, b := range arena {
		if (i < pre || i >= end) && b != guard {
			t.Errorf("%s: wrote byte %d of dst[%d:%d] (len %d, cap %d), outside the bytes it may touch", what, i-pre, i-pre, i-pre+1, len(dst), cap(dst))
			return
		}
	}
}

// testReadAtRanges reads ranges of a blob with ReadAt and ReadAligned, into
// aligned and unaligned buffers with room after them, and checks the
// results and that nothing outside the allowed bytes was written: for
// ReadAt, nothing past len(dst).
func testReadAtRanges(t *testing.T, c target) {
	ctx := context.Background()
	const key = "L00/H00/attn/q8"
	const size = 3*4096 + 123
	blobs := map[string][]byte{key: content(key, size), "empty": {}, "sector": content("sector", 4096)}
	write(t, c.uri, blobs, storage.CreateOptions{})
	s := c.open(t)

	tests := []struct {
		name    string
		key     string
		off     int64
		n       int
		wantN   int
		wantEOF bool
		wantErr bool
	}{
		{"whole", key, 0, size, size, false, false},
		{"empty read at 0", key, 0, 0, 0, false, false},
		{"empty read at end", key, size, 0, 0, false, false},
		{"aligned middle", key, 4096, 4096, 4096, false, false},
		{"aligned head", key, 0, 100, 100, false, false},
		{"aligned head, blocks and part", key, 0, 2*4096 + 100, 2*4096 + 100, false, false},
		{"aligned tail", key, 3 * 4096, 123, 123, false, false},
		{"unaligned middle", key, 1000, 5000, 5000, false, false},
		{"crosses every block", key, 4095, 2*4096 + 2, 2*4096 + 2, false, false},
		{"tail", key, size - 10, 10, 10, false, false},
		{"last byte", key, size - 1, 1, 1, false, false},
		{"past end partially", key, size - 10, 100, 10, true, false},
		{"longer than blob", key, 0, size + 4096, size, true, false},
		{"longer than blob by a little", key, 0, size + 1, size, true, false},
		{"at end", key, size, 1, 0, true, false},
		{"beyond end", key, size + 5000, 10, 0, true, false},
		{"negative offset", key, -1, 10, 0, false, true},
		{"empty blob whole", "empty", 0, 0, 0, false, false},
		{"empty blob one byte", "empty", 0, 1, 0, true, false},
		{"one-block blob whole", "sector", 0, 4096, 4096, false, false},
		{"one-block blob past end", "sector", 0, 5000, 4096, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range readers(s) {
				for _, pre := range []int{0, 3} {
					for _, limited := range []bool{false, true} {
						what := fmt.Sprintf("%s into dst at arena byte %d, capacity limited %v", r.name, pre, limited)
						dst, arena := guarded(pre, tc.n, limited)
						n, err := r.read(ctx, tc.key, dst, tc.off)
						if n != tc.wantN {
							t.Errorf("%s: n = %d, want %d (err %v)", what, n, tc.wantN, err)
						}
						switch {
						case tc.wantEOF && !errors.Is(err, io.EOF):
							t.Errorf("%s: err = %v, want one wrapping io.EOF", what, err)
						case tc.wantErr && err == nil:
							t.Errorf("%s: err = nil, want an error", what)
						case !tc.wantEOF && !tc.wantErr && err != nil:
							t.Errorf("%s: unexpected error %v", what, err)
						}
						if err != nil && !strings.Contains(err.Error(), tc.key) {
							t.Errorf("%s: error %q does not name the key %q", what, err, tc.key)
						}
						if n > 0 && n <= tc.wantN {
							if want := blobs[tc.key][tc.off : tc.off+int64(n)]; !bytes.Equal(dst[:n], want) {
								t.Errorf("%s: content differs from what was put", what)
							}
						}
						checkGuard(t, what, arena, dst, pre, r.slack)
					}
				}
			}
		})
	}
}

// testReadAtCapacity reads whole blobs of every size into buffers from
// AlignedBuffer, the case where a direct-IO store is most tempted to land
// whole sectors: ReadAt must not write past len(dst), ReadAligned not past
// the end of its last block.
func testReadAtCapacity(t *testing.T, c target) {
	ctx := context.Background()
	blobs := map[string][]byte{}
	for _, n := range sizes {
		k := fmt.Sprintf("blob%d", n)
		blobs[k] = content(k, n)
	}
	write(t, c.uri, blobs, storage.CreateOptions{})
	s := c.open(t)

	for _, k := range sortedKeys(blobs) {
		want := blobs[k]
		for _, r := range readers(s) {
			// An aligned buffer with more room than the blob needs, as a
			// reused ReadAll buffer has.
			dst, arena := guarded(0, len(want), false)
			n, err := r.read(ctx, k, dst, 0)
			what := fmt.Sprintf("%s of %d-byte %q", r.name, len(want), k)
			if err != nil || n != len(want) || !bytes.Equal(dst, want) {
				t.Errorf("%s = %d, %v; content equal %v", what, n, err, bytes.Equal(dst[:n], want))
			}
			checkGuard(t, what, arena, dst, 0, r.slack)
		}
	}
}

func testReadAllReuse(t *testing.T, c target) {
	ctx := context.Background()
	blobs := map[string][]byte{"a": content("a", 5000), "b": content("b", 3000), "c": content("c", 9000)}
	write(t, c.uri, blobs, storage.CreateOptions{})
	s := c.open(t)

	buf := storage.AlignedBuffer(8192)
	got, err := storage.ReadAll(ctx, s, "a", buf)
	if err != nil || !bytes.Equal(got, blobs["a"]) {
		t.Fatalf("ReadAll(a) = %v; content equal %v", err, bytes.Equal(got, blobs["a"]))
	}
	if &got[0] != &buf[:1][0] {
		t.Errorf("ReadAll(a) did not reuse an aligned buffer with room")
	}
	got, err = storage.ReadAll(ctx, s, "b", got)
	if err != nil || !bytes.Equal(got, blobs["b"]) || &got[0] != &buf[:1][0] {
		t.Errorf("ReadAll(b): err %v, equal %v, reused %v", err, bytes.Equal(got, blobs["b"]), &got[0] == &buf[:1][0])
	}
	got, err = storage.ReadAll(ctx, s, "c", got)
	if err != nil || !bytes.Equal(got, blobs["c"]) || !storage.IsAligned(got) {
		t.Errorf("ReadAll(c) into a too-small buffer: err %v, equal %v, aligned %v", err, bytes.Equal(got, blobs["c"]), storage.IsAligned(got))
	}
	if _, err := storage.ReadAll(ctx, s, "missing", got); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ReadAll(missing) err = %v, want ErrNotFound", err)
	}
}

func testKeys(t *testing.T, c target) {
	ctx := context.Background()
	blobs := fixture()
	write(t, c.uri, blobs, storage.CreateOptions{})
	s := c.open(t)

	for _, prefix := range []string{"", "L0", "L01/", "L01/H02/", "L02/H03/ffn/q4", "emb/", "m", "zzz", "L01/H02/attn/q4x"} {
		var want []string
		for _, k := range sortedKeys(blobs) {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		got, err := s.Keys(ctx, prefix)
		if err != nil {
			t.Fatalf("Keys(%q): %v", prefix, err)
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Keys(%q) mismatch (-want +got):\n%s", prefix, diff)
		}
	}
}

func testNotFound(t *testing.T, c target) {
	ctx := context.Background()
	write(t, c.uri, map[string][]byte{"L00/H00/attn/q4": content("x", 100)}, storage.CreateOptions{})
	s := c.open(t)
	const missing = "L00/H00/attn/q5"
	if _, err := s.Size(ctx, missing); !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Size(missing) err = %v, want ErrNotFound naming %q", err, missing)
	}
	n, err := s.ReadAt(ctx, missing, make([]byte, 10), 0)
	if n != 0 || !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), missing) {
		t.Errorf("ReadAt(missing) = %d, %v; want 0 and ErrNotFound naming %q", n, err, missing)
	}
}

func testInvisibleBeforeCommit(t *testing.T, c target) {
	ctx := context.Background()
	w, err := storage.Create(ctx, c.uri, storage.CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Abort()
	if err := w.Put(ctx, "a", content("a", 5000)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if s, err := c.tryOpen(ctx); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open before Commit: err = %v, want fs.ErrNotExist", err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	s := c.open(t)
	if got, err := storage.ReadAll(ctx, s, "a", nil); err != nil || !bytes.Equal(got, content("a", 5000)) {
		t.Errorf("after Commit: ReadAll(a) err %v, content equal %v", err, bytes.Equal(got, content("a", 5000)))
	}
}

func testAbort(t *testing.T, c target) {
	ctx := context.Background()
	for round := range 2 {
		w, err := storage.Create(ctx, c.uri, storage.CreateOptions{})
		if err != nil {
			t.Fatalf("round %d: Create after Abort: %v", round, err)
		}
		if err := w.Put(ctx, "a", content("a", 10000)); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if err := w.Abort(); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		if err := w.Abort(); err != nil {
			t.Errorf("second Abort: %v", err)
		}
		if err := w.Put(ctx, "b", nil); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("Put after Abort: err = %v, want ErrClosed", err)
		}
		if err := w.Commit(ctx); err == nil {
			t.Errorf("Commit after Abort succeeded")
		}
		if s, err := c.tryOpen(ctx); !errors.Is(err, fs.ErrNotExist) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("Open after Abort: err = %v, want fs.ErrNotExist", err)
		}
	}
}

func testWriterMisuse(t *testing.T, c target) {
	ctx := context.Background()
	w, err := storage.Create(ctx, c.uri, storage.CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Abort()
	if err := w.Put(ctx, "a", []byte("x")); err != nil {
		t.Fatalf("Put(a): %v", err)
	}
	if err := w.Put(ctx, "a", []byte("y")); err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("second Put(a): err = %v, want an error naming the key", err)
	}
	for _, bad := range []string{"", strings.Repeat("k", storage.MaxKeyLen+1), "a\x00b", "\xff\xfe"} {
		if err := w.Put(ctx, bad, []byte("z")); err == nil {
			t.Errorf("Put(%.20q) accepted an invalid key", bad)
		}
	}
	long := strings.Repeat("k", storage.MaxKeyLen)
	if err := w.Put(ctx, long, []byte("long")); err != nil {
		t.Errorf("Put of a %d-byte key: %v", len(long), err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := w.Commit(ctx); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("second Commit: err = %v, want ErrClosed", err)
	}
	if err := w.Put(ctx, "b", nil); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Put after Commit: err = %v, want ErrClosed", err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	s := c.open(t)
	got, err := s.Keys(ctx, "")
	if diff := cmp.Diff([]string{"a", long}, got); err != nil || diff != "" {
		t.Errorf("Keys after misuse: err %v, mismatch (-want +got):\n%s", err, diff)
	}
	if b, err := storage.ReadAll(ctx, s, "a", nil); err != nil || string(b) != "x" {
		t.Errorf("ReadAll(a) = %q, %v; want the first Put's \"x\"", b, err)
	}
}

func testPutCopies(t *testing.T, c target) {
	ctx := context.Background()
	w, err := storage.Create(ctx, c.uri, storage.CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Abort()
	data := content("a", 6000)
	want := append([]byte{}, data...)
	if err := w.Put(ctx, "a", data); err != nil {
		t.Fatalf("Put: %v", err)
	}
	for i := range data {
		data[i] = 0
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	got, err := storage.ReadAll(ctx, c.open(t), "a", nil)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("blob changed when the caller reused its buffer after Put (err %v)", err)
	}
}

func testExistsAndOverwrite(t *testing.T, c target) {
	ctx := context.Background()
	write(t, c.uri, map[string][]byte{"old": content("old", 100), "both": content("both1", 50)}, storage.CreateOptions{})

	if w, err := storage.Create(ctx, c.uri, storage.CreateOptions{}); !errors.Is(err, storage.ErrExists) {
		if err == nil {
			w.Abort()
		}
		t.Fatalf("Create over an existing store: err = %v, want ErrExists", err)
	}

	// An aborted overwrite leaves the old store intact.
	w, err := storage.Create(ctx, c.uri, storage.CreateOptions{Overwrite: true})
	if err != nil {
		t.Fatalf("Create(Overwrite): %v", err)
	}
	if err := w.Put(ctx, "new", content("new", 10)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	s := c.open(t)
	if got, err := s.Keys(ctx, ""); err != nil || !cmp.Equal(got, []string{"both", "old"}) {
		t.Errorf("after aborted overwrite: Keys = %v, %v; want the old store's [both old]", got, err)
	}
	s.Close()

	write(t, c.uri, map[string][]byte{"new": content("new", 10), "both": content("both2", 70)}, storage.CreateOptions{Overwrite: true})
	s = c.open(t)
	if got, err := s.Keys(ctx, ""); err != nil || !cmp.Equal(got, []string{"both", "new"}) {
		t.Errorf("after overwrite: Keys = %v, %v; want [both new]", got, err)
	}
	if got, err := storage.ReadAll(ctx, s, "both", nil); err != nil || !bytes.Equal(got, content("both2", 70)) {
		t.Errorf("after overwrite: ReadAll(both) err %v, want the new content", err)
	}
}

func testConcurrentReads(t *testing.T, c target) {
	ctx := context.Background()
	blobs := fixture()
	write(t, c.uri, blobs, storage.CreateOptions{})
	s := c.open(t)
	keys := sortedKeys(blobs)

	const workers, reads = 8, 60
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			var buf []byte
			for range reads {
				k := keys[r.IntN(len(keys))]
				want := blobs[k]
				if r.IntN(2) == 0 {
					var err error
					buf, err = storage.ReadAll(ctx, s, k, buf)
					if err != nil || !bytes.Equal(buf, want) {
						errs <- fmt.Errorf("ReadAll(%q): err %v, content equal %v", k, err, bytes.Equal(buf, want))
						return
					}
					continue
				}
				if len(want) == 0 {
					continue
				}
				off := r.IntN(len(want))
				n := r.IntN(len(want) - off + 1)
				dst := make([]byte, n)
				got, err := s.ReadAt(ctx, k, dst, int64(off))
				if err != nil || got != n || !bytes.Equal(dst, want[off:off+n]) {
					errs <- fmt.Errorf("ReadAt(%q, off %d, len %d) = %d, %v", k, off, n, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testCancelled(t *testing.T, c target) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	if _, err := storage.Create(ctx, c.uri, storage.CreateOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Create with a cancelled context: err = %v, want context.Canceled", err)
	}
	w, err := storage.Create(context.Background(), c.uri, storage.CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Abort()
	if err := w.Put(ctx, "a", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: err = %v, want context.Canceled", err)
	}
	if err := w.Put(context.Background(), "b", []byte("y")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := w.Commit(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit with a cancelled context: err = %v, want context.Canceled", err)
	}
	if s, err := c.tryOpen(context.Background()); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			s.Close()
		}
		t.Errorf("Open after a cancelled Commit: err = %v, want fs.ErrNotExist", err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after a cancelled Commit: %v", err)
	}

	write(t, c.uri, map[string][]byte{"a": content("a", 5000)}, storage.CreateOptions{})
	if _, err := c.tryOpen(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context: err = %v, want context.Canceled", err)
	}
	s := c.open(t)
	if _, err := s.ReadAt(ctx, "a", make([]byte, 10), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadAt with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, err := s.Size(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Size with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, err := s.Keys(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Keys with a cancelled context: err = %v, want context.Canceled", err)
	}
}

func testClosed(t *testing.T, c target) {
	ctx := context.Background()
	write(t, c.uri, map[string][]byte{"a": content("a", 5000)}, storage.CreateOptions{})
	s, err := c.tryOpen(ctx)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.ReadAt(ctx, "a", make([]byte, 10), 0); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("ReadAt after Close: err = %v, want ErrClosed", err)
	}
	if _, err := s.Size(ctx, "a"); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Size after Close: err = %v, want ErrClosed", err)
	}
	if _, err := s.Keys(ctx, ""); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Keys after Close: err = %v, want ErrClosed", err)
	}
	// The store itself is untouched by closing a handle.
	s2 := c.open(t)
	if got, err := storage.ReadAll(ctx, s2, "a", nil); err != nil || !bytes.Equal(got, content("a", 5000)) {
		t.Errorf("reopen after Close: err %v", err)
	}
}
