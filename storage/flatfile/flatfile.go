// Package flatfile is a WRX store in one data file plus an index, read with
// direct IO. Importing it registers the "file" URI scheme:
//
//	import _ "github.com/wrxlabs/wrx/storage/flatfile"
//	s, err := storage.Open(ctx, "file:/data/models/sst2.wrx")
//
// A store is a directory holding two files, "data" and "index" (the format
// is described in format.go). Every blob starts at a 4 KiB-aligned offset of
// the data file.
//
// The directory may also hold a "sidecar" subdirectory with one file per
// sidecar ([storage.WriteSidecar]): small mutable metadata, each file
// replaced atomically (temporary file, fsync, rename, fsync of the
// directory), never touching the data file or the index. Open and Verify
// ignore it. Replacing the store (Create with Overwrite) replaces the
// directory, sidecars included: they described the old store.
//
// # Direct IO
//
// On Linux the data file is opened with O_DIRECT, so reads go from the device
// to the caller's memory without passing through, or filling, the page cache:
// the memory a model run uses is the memory WRX accounts for, and a read
// costs what the device costs. O_DIRECT needs the memory address, the file
// offset and the length all aligned to 4 KiB ([storage.Align]). [Store.ReadAt]
// never writes past len(dst), so:
//
//   - A read at an aligned offset into an aligned buffer reads its whole
//     sectors straight into the buffer. A partial last sector (a blob whose
//     size is not a multiple of 4 KiB) lands in a pooled 16 KiB bounce
//     buffer in the same preadv(2) call and its bytes are copied out: at
//     most 4 KiB copied, no extra system call.
//   - Any other read (an unaligned offset, such as one embedding row, or an
//     unaligned buffer) goes through a pooled aligned bounce buffer in
//     chunks of up to 1 MiB (16 KiB for reads that fit in one): the device
//     reads the covering 4 KiB blocks and the requested bytes are copied
//     out. The cost is that copy plus at most one extra block at each end
//     of the range: for a 1.5 KiB embedding row, one 4 KiB read.
//
// [Store.ReadAligned] ([storage.AlignedReader]) may also write the rest of
// the last sector into dst[len(dst):cap(dst)]. A whole blob read with it
// (directly, or through [storage.ReadAligned] or [storage.ReadAll]) into a
// buffer from [storage.AlignedBuffer] is one read straight into that buffer
// with no copy at all: the blob starts aligned and the buffer's capacity
// covers the rounded-up length. The storage wrappers forward ReadAligned,
// so a throttled or counted store keeps this path.
//
// Blobs lie in the data file in the order they were put, each padded to
// the alignment, so blobs put one after the other are one range of the
// file. [Store.ReadBatch] ([storage.BatchReader]) reads such a run with one
// preadv(2) straight into the callers' aligned buffers, the padding landing
// in each buffer's slack.
//
// Some filesystems refuse O_DIRECT (tmpfs, some network and FUSE
// filesystems). With [storage.DirectAuto], the default, Open detects this
// (at open, or with a probe read of the first block) and falls back to
// ordinary reads; [Store.Direct] tells which mode a store got.
// [storage.DirectRequired] makes Open fail instead.
//
// On macOS the file gets F_NOCACHE, which bypasses the cache for reads
// without alignment rules. Elsewhere reads are ordinary preads through the
// page cache.
//
// # Writing
//
// A writer streams blobs into a temporary directory next to the target
// (".NAME.tmp-*"), and Commit fsyncs the data and index files and the
// directory, then renames it into place; on Linux an overwrite swaps the old
// and new directories in one renameat2(RENAME_EXCHANGE) call. Any write error
// (a full disk, say) removes the temporary directory at once. A crash can
// leave a ".NAME.tmp-*" directory behind, but never a store at NAME. After
// the fsync the writer asks the kernel to drop the file from the page cache,
// so a freshly converted store does not sit in memory looking fast.
//
// # Checksums
//
// The index has its own CRC32C, and Open refuses an index that is damaged or
// truncated, or a data file whose length differs from what the index
// records. Each index entry also carries the CRC32C of its blob, checked by
// [Store.Verify]; ordinary reads do not check it, because the layer above
// already verifies every shard against the manifest and can name the shard.
package flatfile

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wrxlabs/wrx/internal/freelist"
	"github.com/wrxlabs/wrx/storage"
	"github.com/wrxlabs/wrx/storage/internal/fsutil"
)

// The two files of a store directory.
const (
	DataFile  = "data"
	IndexFile = "index"
)

func init() { storage.Register("file", driver{fsutil.SidecarDriver{Marker: IndexFile}}) }

// driver keeps sidecars as files beside the store (fsutil.SidecarDriver).
type driver struct{ fsutil.SidecarDriver }

func (driver) Open(ctx context.Context, path string, opts storage.OpenOptions) (storage.Store, error) {
	return Open(ctx, path, opts)
}

func (driver) Create(ctx context.Context, path string, opts storage.CreateOptions) (storage.Writer, error) {
	return Create(ctx, path, opts)
}

// Store is an open flat-file store. It is safe for concurrent use.
type Store struct {
	dir      string
	dataPath string
	data     *os.File
	direct   bool
	entries  []entry // sorted by key
	keys     []string
	closed   atomic.Bool
	bounced  atomic.Int64 // reads that took a bounce buffer, for tests
	runs     atomic.Int64 // merged reads of ReadBatch, for tests
}

// Open opens the store in directory path. It reads and validates the whole
// index, and refuses a store whose index is damaged or whose data file has a
// different length than the index records; the error names the file.
func Open(ctx context.Context, path string, opts storage.OpenOptions) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("flatfile: open %s: %w", path, err)
	}
	path = filepath.Clean(path)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("flatfile: open store: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("flatfile: open %s: not a store directory", path)
	}
	indexPath := filepath.Join(path, IndexFile)
	raw, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, fmt.Errorf("flatfile: open store: %w", err)
	}
	entries, dataLen, err := decodeIndex(raw)
	if err != nil {
		return nil, fmt.Errorf("flatfile: open store: index %s: %w", indexPath, err)
	}
	dataPath := filepath.Join(path, DataFile)
	f, direct, err := openData(dataPath, opts.Direct)
	if err != nil {
		return nil, fmt.Errorf("flatfile: open store: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("flatfile: open store: %w", err)
	}
	if st.Size() != dataLen {
		f.Close()
		what := "truncated"
		if st.Size() > dataLen {
			what = "longer than it should be"
		}
		return nil, fmt.Errorf("flatfile: open store: data file %s is %d bytes but index %s says %d: %s", dataPath, st.Size(), indexPath, dataLen, what)
	}
	s := &Store{dir: path, dataPath: dataPath, data: f, direct: direct, entries: entries, keys: make([]string, len(entries))}
	for i, e := range entries {
		s.keys[i] = e.key
	}
	return s, nil
}

// Direct reports whether reads bypass the page cache (O_DIRECT on Linux,
// F_NOCACHE on macOS).
func (s *Store) Direct() bool { return s.direct }

// Path returns the store's directory.
func (s *Store) Path() string { return s.dir }

func (s *Store) lookup(ctx context.Context, op, key string) (entry, error) {
	if s.closed.Load() {
		return entry{}, fmt.Errorf("flatfile %s: %s %q: %w", s.dir, op, key, storage.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return entry{}, fmt.Errorf("flatfile %s: %s %q: %w", s.dir, op, key, err)
	}
	e, ok := find(s.entries, key)
	if !ok {
		return entry{}, fmt.Errorf("flatfile %s: %q: %w", s.dir, key, storage.ErrNotFound)
	}
	return e, nil
}

// Size implements [storage.Store].
func (s *Store) Size(ctx context.Context, key string) (int64, error) {
	e, err := s.lookup(ctx, "size", key)
	return e.size, err
}

// ReadAt implements [storage.Store]. It never writes past len(dst). See
// the package documentation for when a read is a single direct read and
// when part of it is bounced.
func (s *Store) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	return s.readAt(ctx, key, dst, off, false)
}

// ReadAligned implements [storage.AlignedReader]: it reads like ReadAt but
// may overwrite dst[len(dst):cap(dst)] up to the next multiple of
// [storage.Align], so that a read at an aligned offset into a buffer from
// [storage.AlignedBuffer] lands whole sectors straight in dst, with no
// bounce copy.
func (s *Store) ReadAligned(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	return s.readAt(ctx, key, dst, off, true)
}

func (s *Store) readAt(ctx context.Context, key string, dst []byte, off int64, slack bool) (int, error) {
	e, err := s.lookup(ctx, "read", key)
	if err != nil {
		return 0, err
	}
	n, rerr := storage.CheckRange(key, e.size, off, len(dst))
	if n > 0 {
		// dst[:n] keeps the capacity of dst, so with slack the last sector
		// may land in dst[n:], which the caller offered (n <= len(dst)).
		if err := s.read(ctx, dst[:n], e.offset+off, slack); err != nil {
			return 0, fmt.Errorf("flatfile %s: read %q (%d bytes at blob offset %d): %w", s.dir, key, n, off, err)
		}
	}
	if rerr != nil {
		return n, fmt.Errorf("flatfile %s: %w", s.dir, rerr)
	}
	return n, nil
}

// Bounce buffers, aligned, hold the sectors a direct read cannot land in
// the caller's memory. bounceSize bounds a bounce buffer, and so the extra
// memory an unaligned read costs, per concurrent read; reads that need no
// more than smallBounceSize (an embedding row, or the partial last sector
// of an aligned read) take a small one instead.
const (
	bounceSize      = 1 << 20
	smallBounceSize = 4 * storage.Align
)

// The small bounce buffers are kept in a freelist rather than a
// sync.Pool, which empties at every collection: a program that bounds its
// heap collects often, and every word-row read after one would allocate.
var (
	bouncePool  = sync.Pool{New: func() any { return new(storage.AlignedBuffer(bounceSize)) }}
	smallBounce = freelist.List[*[]byte]{Max: 16}
)

func getSmallBounce() *[]byte {
	if b, ok := smallBounce.Get(); ok {
		return b
	}
	return new(storage.AlignedBuffer(smallBounceSize))
}

// getBounce returns a pooled bounce buffer for a read whose covering
// sectors span need bytes: a small one if they fit in it, else a 1 MiB one
// that the read goes through in chunks.
func (s *Store) getBounce(need int) *[]byte {
	s.bounced.Add(1)
	if need <= smallBounceSize {
		return getSmallBounce()
	}
	return bouncePool.Get().(*[]byte)
}

func putBounce(b *[]byte) {
	if cap(*b) == smallBounceSize {
		smallBounce.Put(b)
	} else {
		bouncePool.Put(b)
	}
}

// read fills dst from the data file at off. With slack it may also
// overwrite dst[len(dst):cap(dst)] up to the next multiple of Align;
// without, it writes only dst.
func (s *Store) read(ctx context.Context, dst []byte, off int64, slack bool) error {
	if !s.direct {
		return s.pread(dst, off, len(dst))
	}
	var bounce *[]byte
	defer func() {
		if bounce != nil {
			putBounce(bounce)
		}
	}()
	for len(dst) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if off%storage.Align == 0 && storage.IsAligned(dst) {
			whole := len(dst) &^ (storage.Align - 1)
			if whole == len(dst) || slack && cap(dst) >= whole+storage.Align {
				// Every sector straight into dst, the last one into the
				// slack the caller offered.
				return s.pread(dst[:storage.AlignUp(int64(len(dst)))], off, len(dst))
			}
			// The whole sectors straight into dst and the partial last
			// one into a bounce buffer, in one system call.
			if bounce == nil {
				bounce = s.getBounce(storage.Align)
			}
			sector := (*bounce)[:storage.Align]
			if err := s.preadv(dst[:whole], sector, off, len(dst)); err != nil {
				return err
			}
			copy(dst[whole:], sector)
			return nil
		}
		// Bounce: read the covering sectors and copy the bytes out, up to
		// a bounce buffer at a time.
		start := off &^ (storage.Align - 1)
		skip := int(off - start)
		if bounce == nil {
			bounce = s.getBounce(int(storage.AlignUp(int64(skip + len(dst)))))
		}
		want := min(len(dst), cap(*bounce)-skip)
		buf := (*bounce)[:storage.AlignUp(int64(skip+want))]
		if err := s.pread(buf, start, skip+want); err != nil {
			return err
		}
		copy(dst, buf[skip:skip+want])
		dst, off = dst[want:], off+int64(want)
	}
	return nil
}

// preadv reads head and then tail from off, both aligned for direct IO, in
// one system call where the platform has one; it fails unless at least need
// bytes arrive.
func (s *Store) preadv(head, tail []byte, off int64, need int) error {
	var n int
	var err error
	if len(head) == 0 {
		n, err = s.data.ReadAt(tail, off)
	} else {
		n, err = preadv(s.data, head, tail, off)
	}
	if n >= need {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("data file %s: %d bytes at offset %d: %w", s.dataPath, need, off, err)
}

// pread reads into b at off and fails unless at least need bytes arrive;
// the bytes past need may legitimately hit the end of the file.
func (s *Store) pread(b []byte, off int64, need int) error {
	n, err := s.data.ReadAt(b, off)
	if n >= need {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("data file %s: %d bytes at offset %d: %w", s.dataPath, need, off, err)
}

// Keys implements [storage.Store].
func (s *Store) Keys(ctx context.Context, prefix string) ([]string, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("flatfile %s: keys: %w", s.dir, storage.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("flatfile %s: keys: %w", s.dir, err)
	}
	i := sort.SearchStrings(s.keys, prefix)
	j := i
	for j < len(s.keys) && strings.HasPrefix(s.keys[j], prefix) {
		j++
	}
	return append([]string{}, s.keys[i:j]...), nil
}

// Verify reads every blob and checks it against the CRC32C in the index. It
// returns an error naming the first blob that does not match. It is an
// offline check (a full scan); ordinary reads leave checksums to the caller.
func (s *Store) Verify(ctx context.Context) error {
	var buf []byte
	for _, e := range s.entries {
		var err error
		buf, err = storage.ReadAll(ctx, s, e.key, buf)
		if err != nil {
			return err
		}
		if got := crc32.Checksum(buf, castagnoli); got != e.crc {
			return fmt.Errorf("flatfile %s: blob %q (%d bytes at data offset %d): checksum %08x, index says %08x", s.dir, e.key, e.size, e.offset, got, e.crc)
		}
	}
	return nil
}

// Close implements [storage.Store].
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.data.Close(); err != nil {
		return fmt.Errorf("flatfile %s: close: %w", s.dir, err)
	}
	return nil
}

var (
	_ storage.AlignedReader = (*Store)(nil)
	_ storage.SidecarDriver = driver{}
)
