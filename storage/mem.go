package storage

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// The mem driver keeps committed stores in process memory, keyed by name:
// "mem:foo" opened anywhere in the process sees what the last committed
// writer for "mem:foo" put. This table is the package's one global besides
// the driver registry; like it, it is a registry. Each Open returns a handle
// on the snapshot committed at that moment, so a later overwrite does not
// change what an open handle reads. Stores live until [DeleteMem] or the end
// of the process. A store's sidecars ([WriteSidecar]) live in a map beside
// its snapshot, guarded by a mutex of their own.
var (
	memMu     sync.Mutex
	memStores = map[string]*memSnapshot{}
)

func init() { Register("mem", memDriver{}) }

// DeleteMem forgets the in-memory store called name (the part after "mem:"),
// and its sidecars, and reports whether there was one. Handles already open
// keep working.
func DeleteMem(name string) bool {
	memMu.Lock()
	defer memMu.Unlock()
	_, ok := memStores[name]
	delete(memStores, name)
	return ok
}

type memSnapshot struct {
	blobs    map[string][]byte
	seq      map[string]int // put order, for Adjacent
	keys     []string       // sorted
	sidecars memSidecars
}

// memSidecars are the sidecars of one committed mem store. They live with
// its snapshot, so a store that replaces it starts with none, as a
// replaced file: store does.
type memSidecars struct {
	mu sync.Mutex
	m  map[string][]byte
}

// committed returns the snapshot committed under name, or an error
// wrapping fs.ErrNotExist.
func committed(name string) (*memSnapshot, error) {
	memMu.Lock()
	defer memMu.Unlock()
	snap, ok := memStores[name]
	if !ok {
		return nil, fmt.Errorf("no store mem:%s: %w", name, fs.ErrNotExist)
	}
	return snap, nil
}

// WriteSidecar implements [SidecarDriver].
func (memDriver) WriteSidecar(ctx context.Context, name, sidecar string, data []byte) error {
	snap, err := committed(name)
	if err != nil {
		return err
	}
	side := &snap.sidecars
	side.mu.Lock()
	defer side.mu.Unlock()
	if side.m == nil {
		side.m = map[string][]byte{}
	}
	side.m[sidecar] = append([]byte{}, data...)
	return nil
}

// ReadSidecar implements [SidecarDriver].
func (memDriver) ReadSidecar(ctx context.Context, name, sidecar string) ([]byte, error) {
	snap, err := committed(name)
	if err != nil {
		return nil, err
	}
	side := &snap.sidecars
	side.mu.Lock()
	defer side.mu.Unlock()
	b, ok := side.m[sidecar]
	if !ok {
		return nil, fmt.Errorf("mem:%s has no sidecar %q: %w", name, sidecar, ErrNotFound)
	}
	return append([]byte{}, b...), nil
}

// SidecarNames implements [SidecarDriver].
func (memDriver) SidecarNames(ctx context.Context, name string) ([]string, error) {
	snap, err := committed(name)
	if err != nil {
		return nil, err
	}
	side := &snap.sidecars
	side.mu.Lock()
	defer side.mu.Unlock()
	names := make([]string, 0, len(side.m))
	for n := range side.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

type memDriver struct{}

func (memDriver) Open(ctx context.Context, name string, _ OpenOptions) (Store, error) {
	memMu.Lock()
	snap, ok := memStores[name]
	memMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("storage: open mem:%s: %w", name, fs.ErrNotExist)
	}
	return &memStore{name: name, snap: snap}, nil
}

func (memDriver) Create(ctx context.Context, name string, opts CreateOptions) (Writer, error) {
	if !opts.Overwrite {
		memMu.Lock()
		_, exists := memStores[name]
		memMu.Unlock()
		if exists {
			return nil, fmt.Errorf("storage: create mem:%s: %w", name, ErrExists)
		}
	}
	return &memWriter{name: name, overwrite: opts.Overwrite, blobs: map[string][]byte{}}, nil
}

type memStore struct {
	name   string
	snap   *memSnapshot
	closed atomic.Bool
}

func (s *memStore) blob(ctx context.Context, key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("mem:%s: read %q: %w", s.name, key, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mem:%s: read %q: %w", s.name, key, err)
	}
	b, ok := s.snap.blobs[key]
	if !ok {
		return nil, fmt.Errorf("mem:%s: %q: %w", s.name, key, ErrNotFound)
	}
	return b, nil
}

func (s *memStore) Size(ctx context.Context, key string) (int64, error) {
	b, err := s.blob(ctx, key)
	return int64(len(b)), err
}

func (s *memStore) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	b, err := s.blob(ctx, key)
	if err != nil {
		return 0, err
	}
	n, rerr := CheckRange(key, int64(len(b)), off, len(dst))
	if n > 0 {
		copy(dst[:n], b[off:])
	}
	if rerr != nil {
		return n, fmt.Errorf("mem:%s: %w", s.name, rerr)
	}
	return n, nil
}

var _ BatchReader = (*memStore)(nil)

// Adjacent implements [BatchReader]: blobs are adjacent when next was put
// right after prev, as a flat-file store would lay them out.
func (s *memStore) Adjacent(prev, next string) bool {
	if s.closed.Load() {
		return false
	}
	p, ok := s.snap.seq[prev]
	n, ok2 := s.snap.seq[next]
	return ok && ok2 && n == p+1
}

// ReadBatch implements [BatchReader] by copying each blob.
func (s *memStore) ReadBatch(ctx context.Context, reads []BlobRead) error {
	for _, r := range reads {
		n, err := s.ReadAt(ctx, r.Key, r.Dst, 0)
		if err != nil {
			return err
		}
		if n != len(r.Dst) {
			return fmt.Errorf("mem:%s: read %q: %d of %d bytes: %w", s.name, r.Key, n, len(r.Dst), io.ErrUnexpectedEOF)
		}
	}
	return nil
}

func (s *memStore) Keys(ctx context.Context, prefix string) ([]string, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("mem:%s: keys: %w", s.name, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mem:%s: keys: %w", s.name, err)
	}
	return keysWithPrefix(s.snap.keys, prefix), nil
}

func (s *memStore) Close() error {
	s.closed.Store(true)
	return nil
}

// keysWithPrefix returns a copy of the run of sorted that starts with prefix.
func keysWithPrefix(sorted []string, prefix string) []string {
	i := sort.SearchStrings(sorted, prefix)
	j := i
	for j < len(sorted) && strings.HasPrefix(sorted[j], prefix) {
		j++
	}
	return append([]string{}, sorted[i:j]...)
}

type memWriter struct {
	name      string
	overwrite bool
	blobs     map[string][]byte
	seq       map[string]int // put order
	done      bool
}

func (w *memWriter) Put(ctx context.Context, key string, data []byte) error {
	if w.done {
		return fmt.Errorf("mem:%s: put %q: %w", w.name, key, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mem:%s: put %q: %w", w.name, key, err)
	}
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("mem:%s: put: %w", w.name, err)
	}
	if _, dup := w.blobs[key]; dup {
		return fmt.Errorf("mem:%s: put %q: key already written", w.name, key)
	}
	w.blobs[key] = append([]byte{}, data...)
	if w.seq == nil {
		w.seq = map[string]int{}
	}
	w.seq[key] = len(w.seq)
	return nil
}

func (w *memWriter) Commit(ctx context.Context) error {
	if w.done {
		return fmt.Errorf("mem:%s: commit: %w", w.name, ErrClosed)
	}
	w.done = true
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mem:%s: commit: %w", w.name, err)
	}
	snap := &memSnapshot{blobs: w.blobs, seq: w.seq, keys: make([]string, 0, len(w.blobs))}
	for k := range w.blobs {
		snap.keys = append(snap.keys, k)
	}
	sort.Strings(snap.keys)
	w.blobs, w.seq = nil, nil

	memMu.Lock()
	defer memMu.Unlock()
	if _, exists := memStores[w.name]; exists && !w.overwrite {
		// Another writer committed the same name after we were created.
		return fmt.Errorf("storage: commit mem:%s: %w", w.name, ErrExists)
	}
	memStores[w.name] = snap
	return nil
}

func (w *memWriter) Abort() error {
	w.done = true
	w.blobs, w.seq = nil, nil
	return nil
}
