// Package badger is a WRX store kept in a Badger database
// (github.com/dgraph-io/badger/v4). Importing it registers the "badger" URI
// scheme:
//
//	import _ "github.com/wrxlabs/wrx/storage/badger"
//	s, err := storage.Open(ctx, "badger:/data/models/sst2.badger")
//
// Each blob is one Badger value under its key. Badger splits storage into an
// LSM tree of keys and a value log of large values; WRX puts every blob but
// the tiniest in the value log, so the tree stays a small table of keys and
// value pointers and a read is one lookup plus one copy out of the
// memory-mapped value log. Reads therefore go through the page cache: this
// store is not direct IO (use file: for that).
//
// Writes go to a Badger database in a temporary directory next to the
// target; Commit syncs and closes it, fsyncs every file, and renames the
// directory into place, as storage/flatfile does. Before the rename it
// records every file of the database and its size (files.go), because
// Badger itself reads a truncated value log without complaint; Open refuses
// a store whose files do not match. A committed store is opened read-only.
// The Badger settings, and why, are in dbOptions.
//
// Sidecars ([storage.WriteSidecar]) are files in a "sidecar" subdirectory
// of the database directory, written as storage/flatfile writes them, not
// keys of the database. Badger opens a directory read-write only under an
// exclusive lock, which it cannot take while any reader holds its shared
// one, so writing a key would fail (or, retried, wait) for as long as a
// running classifier has the store open: profiling a device would have to
// stop the model it profiles. It would also rewrite the immutable store.
// Badger ignores the subdirectory, and the file list check covers only the
// database's own files.
//
// Content checksums are left to the layer above, as for every store; Badger
// checksums its own tables and value-log entries when it writes them.
package badger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"

	bdg "github.com/dgraph-io/badger/v4"
	bopts "github.com/dgraph-io/badger/v4/options"

	"github.com/wrxlabs/wrx/storage"
	"github.com/wrxlabs/wrx/storage/internal/fsutil"
)

// MaxBlobSize is the largest blob a store takes: a value must fit in one
// value-log file. It covers the largest blob WRX writes, a whole fp32
// embedding table (BERT-base: 30522×768×4 bytes = 94 MB).
const MaxBlobSize = 128 << 20

func init() { storage.Register("badger", driver{fsutil.SidecarDriver{Marker: fileList}}) }

// driver keeps sidecars as files beside the store (fsutil.SidecarDriver).
type driver struct{ fsutil.SidecarDriver }

func (driver) Open(ctx context.Context, path string, opts storage.OpenOptions) (storage.Store, error) {
	return Open(ctx, path)
}

func (driver) Create(ctx context.Context, path string, opts storage.CreateOptions) (storage.Writer, error) {
	return Create(ctx, path, opts)
}

var _ storage.SidecarDriver = driver{}

// dbOptions returns the Badger settings for a WRX store in dir. Each departs
// from Badger's defaults (tuned for a long-running, mutable, server-side
// key-value store) because a WRX store is written once by a converter and
// then only read, often on a small device.
func dbOptions(dir string, readOnly bool) bdg.Options {
	return bdg.DefaultOptions(dir).
		// A committed store is immutable. Read-only mode takes a shared
		// lock, so several processes may open it, and never writes: no
		// memtable flush or compaction at close.
		WithReadOnly(readOnly).
		// Values of 1 KiB and more go to the value log. Shard blobs are
		// 10 KiB to a few MiB, so the LSM tree holds only keys and 12-byte
		// value pointers (about 1 MB for 20,000 blobs); compactions never
		// copy blob bytes, and a read is one tree lookup (in memory) plus
		// one value-log access.
		WithValueThreshold(1 << 10).
		// Value-log files of 128 MiB instead of 1 GiB: a value must fit in
		// one file (hence MaxBlobSize), and the writer maps the active file
		// at twice this size, which must stay small for 32-bit devices.
		WithValueLogFileSize(MaxBlobSize).
		// Memtables only hold keys and pointers, so 8 MiB (default 64) is
		// ample, and two of them (default 5) bound the converter's memory
		// at 16 MiB instead of 320.
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		// No compression: blobs are quantized and bit-packed (fp32 weights
		// do not compress well either), and with values in the value log
		// compression would only touch the small key tables. Without
		// compression or encryption Badger needs no block cache: tables
		// are read from their memory maps, not copied into a second cache.
		WithCompression(bopts.None).
		WithBlockCacheSize(0).
		// One writer and no concurrent transactions: nothing to detect.
		WithDetectConflicts(false).
		// Durability comes from one sync at Commit, not a sync per Put.
		WithSyncWrites(false).
		// Badger's minimum; the tree is tiny, so they rarely run.
		WithNumCompactors(2).
		// Values are verified by the layer above against the manifest's
		// CRC32C, which can name the shard; a second check here would
		// double the CPU cost of every read on a small device.
		WithVerifyValueChecksum(false).
		// The key tables, by contrast, are small: check them once, when
		// Open loads them, so a damaged table is refused up front.
		WithChecksumVerificationMode(bopts.OnTableRead).
		// No expvar metrics (process-global state) and no logging: every
		// failure comes back as an error, and a library must not write to
		// stderr on its own.
		WithMetricsEnabled(false).
		WithLogger(nil)
}

// isStore accepts a directory that holds a WRX Badger store.
func isStore(names []string) bool { return slices.Contains(names, fileList) }

// Store is an open Badger store. It is safe for concurrent use.
type Store struct {
	dir    string
	db     *bdg.DB
	closed atomic.Bool
}

// Open opens the committed store in directory path, read-only.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("badger: open %s: %w", path, err)
	}
	path = filepath.Clean(path)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("badger: open store: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("badger: open %s: not a store directory", path)
	}
	// Checked before Badger sees the directory: Badger would create an
	// empty database where there is none, and reads a truncated one.
	if err := checkFileList(path); err != nil {
		return nil, fmt.Errorf("badger: open %s: %w", path, err)
	}
	db, err := bdg.Open(dbOptions(path, true))
	if err != nil {
		return nil, fmt.Errorf("badger: open %s: %w", path, err)
	}
	return &Store{dir: path, db: db}, nil
}

func (s *Store) check(ctx context.Context, op, key string) error {
	if s.closed.Load() {
		return fmt.Errorf("badger %s: %s %q: %w", s.dir, op, key, storage.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("badger %s: %s %q: %w", s.dir, op, key, err)
	}
	return nil
}

// value calls fn with the blob under key, which is valid only during fn.
func (s *Store) value(ctx context.Context, op, key string, fn func([]byte) error) error {
	if err := s.check(ctx, op, key); err != nil {
		return err
	}
	err := s.db.View(func(txn *bdg.Txn) error {
		item, err := txn.Get([]byte(key))
		if err != nil {
			return err
		}
		// For value-log values Value hands out a slice of the memory map
		// itself, so only the bytes fn touches are paged in.
		return item.Value(fn)
	})
	switch {
	case errors.Is(err, bdg.ErrKeyNotFound):
		return fmt.Errorf("badger %s: %q: %w", s.dir, key, storage.ErrNotFound)
	case errors.Is(err, bdg.ErrDBClosed):
		return fmt.Errorf("badger %s: %s %q: %w", s.dir, op, key, storage.ErrClosed)
	case err != nil:
		return fmt.Errorf("badger %s: %s %q: %w", s.dir, op, key, err)
	}
	return nil
}

// Size implements [storage.Store]. Badger's own ValueSize is an estimate
// for value-log entries, so the length is taken from the value itself; that
// touches only the entry's header page.
func (s *Store) Size(ctx context.Context, key string) (int64, error) {
	var n int64
	err := s.value(ctx, "size", key, func(v []byte) error {
		n = int64(len(v))
		return nil
	})
	return n, err
}

// ReadAt implements [storage.Store]. It copies from Badger's memory map into
// dst and never writes past len(dst).
func (s *Store) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	var n int
	var rerr error
	err := s.value(ctx, "read", key, func(v []byte) error {
		n, rerr = storage.CheckRange(key, int64(len(v)), off, len(dst))
		if n > 0 {
			copy(dst[:n], v[off:])
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return n, fmt.Errorf("badger %s: %w", s.dir, rerr)
	}
	return n, nil
}

// Keys implements [storage.Store].
func (s *Store) Keys(ctx context.Context, prefix string) ([]string, error) {
	if err := s.check(ctx, "keys", prefix); err != nil {
		return nil, err
	}
	keys := []string{}
	err := s.db.View(func(txn *bdg.Txn) error {
		it := txn.NewIterator(bdg.IteratorOptions{Prefix: []byte(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, string(it.Item().Key()))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("badger %s: keys %q: %w", s.dir, prefix, err)
	}
	return keys, nil
}

// Close implements [storage.Store].
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("badger %s: close: %w", s.dir, err)
	}
	return nil
}

// Writer builds a Badger store.
type Writer struct {
	path      string
	tmp       string
	overwrite bool
	db        *bdg.DB
	seen      map[string]bool
	done      bool
	failed    error
}

// Create starts a store in directory path, with the same rules as
// storage/flatfile: the parent must exist, and Overwrite replaces only an
// existing Badger store or an empty directory.
func Create(ctx context.Context, path string, opts storage.CreateOptions) (*Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("badger: create %s: %w", path, err)
	}
	path = filepath.Clean(path)
	tmp, err := fsutil.Prepare("badger", path, opts.Overwrite, isStore)
	if err != nil {
		return nil, err
	}
	db, err := bdg.Open(dbOptions(tmp, false))
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("badger: create %s: %w", path, err)
	}
	return &Writer{path: path, tmp: tmp, overwrite: opts.Overwrite, db: db, seen: map[string]bool{}}, nil
}

func (w *Writer) usable(op string) error {
	if w.failed != nil {
		return fmt.Errorf("badger: %s: writer failed earlier: %w", op, w.failed)
	}
	if w.done {
		return fmt.Errorf("badger: create %s: %s: %w", w.path, op, storage.ErrClosed)
	}
	return nil
}

// fail ends the writer after a write error and removes the temporary
// database at once.
func (w *Writer) fail(err error) error {
	err = fmt.Errorf("badger: create %s: %w", w.path, err)
	w.failed = err
	w.cleanup()
	return err
}

func (w *Writer) cleanup() {
	w.done = true
	if w.db != nil {
		w.db.Close()
		w.db = nil
	}
	os.RemoveAll(w.tmp)
	w.seen = nil
}

// Put implements [storage.Writer]. Each blob is committed to the temporary
// database in its own transaction, so memory does not grow with the store.
func (w *Writer) Put(ctx context.Context, key string, data []byte) error {
	if err := w.usable(fmt.Sprintf("put %q", key)); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("badger: create %s: put %q: %w", w.path, key, err)
	}
	if err := storage.CheckKey(key); err != nil {
		return fmt.Errorf("badger: create %s: put: %w", w.path, err)
	}
	if w.seen[key] {
		return fmt.Errorf("badger: create %s: put %q: key already written", w.path, key)
	}
	if len(data) > MaxBlobSize {
		return fmt.Errorf("badger: create %s: put %q: %d bytes is more than the %d-byte limit of a Badger store", w.path, key, len(data), MaxBlobSize)
	}
	if err := w.checkSpace(len(data)); err != nil {
		return w.fail(fmt.Errorf("put %q: %w", key, err))
	}
	// Update returns once the entry is in the value log and the memtable,
	// after which Badger holds no reference to data.
	err := w.db.Update(func(txn *bdg.Txn) error { return txn.Set([]byte(key), data) })
	if err != nil {
		return w.fail(fmt.Errorf("put %q in %s: %w", key, w.tmp, err))
	}
	w.seen[key] = true
	return nil
}

// writeReserve is the free space a write must leave for what Badger writes
// besides the value itself: memtables, and the key table built at Commit.
const writeReserve = 32 << 20

// checkSpace refuses a write that the filesystem cannot hold. Badger writes
// its value log and tables through memory maps of preallocated sparse
// files, so running out of space there does not return ENOSPC: the kernel
// sends SIGBUS and the process dies. Checking first turns a full disk into
// an ordinary error. (Another process filling the disk between the check
// and the write can still cause the crash; flatfile has no such gap.)
func (w *Writer) checkSpace(n int) error {
	free, ok := freeBytes(w.tmp)
	if ok && free < int64(n)+writeReserve {
		return fmt.Errorf("%w: %d bytes free on the filesystem of %s, a %d-byte blob needs %d with room for Badger's own files (Badger writes through memory maps and cannot report a full disk itself)",
			syscall.ENOSPC, free, w.tmp, n, int64(n)+writeReserve)
	}
	return nil
}

// Commit implements [storage.Writer].
func (w *Writer) Commit(ctx context.Context) error {
	if err := w.usable("commit"); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		w.cleanup()
		return fmt.Errorf("badger: create %s: commit: %w", w.path, err)
	}
	if err := w.db.Sync(); err != nil {
		return w.fail(fmt.Errorf("sync %s: %w", w.tmp, err))
	}
	// Close flushes the memtable into a table, so the store opens
	// read-only without replaying a write-ahead log.
	err := w.db.Close()
	w.db = nil
	if err != nil {
		return w.fail(fmt.Errorf("close %s: %w", w.tmp, err))
	}
	if err := writeFileList(w.tmp); err != nil {
		return w.fail(err)
	}
	if err := fsutil.SyncTree(w.tmp); err != nil {
		return w.fail(err)
	}
	if err := fsutil.Install(w.tmp, w.path, w.overwrite, isStore); err != nil {
		return w.fail(err)
	}
	w.done = true
	w.seen = nil
	return nil
}

// Abort implements [storage.Writer].
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.cleanup()
	return nil
}
