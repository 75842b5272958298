// Package storage defines where WRX keeps a converted model: a store, a flat
// map from string keys (such as "L03/H07/attn/q4", "emb/rows", "manifest") to
// immutable byte blobs of up to a few megabytes.
//
// A store is written once, through a [Writer], and then only read. Nothing a
// writer puts is visible until [Writer.Commit] succeeds, and Commit is
// atomic: a crash or an error leaves either the previous store or none, never
// a half-written one that opens.
//
// Reads land in buffers the caller provides, so that the caller controls
// every byte of resident memory. [Store.ReadAt] has the plain io.ReaderAt
// contract and never writes past len(dst). A flat-file store can also read
// with direct IO straight into 4 KiB-aligned memory, landing whole sectors;
// it offers that through the optional [AlignedReader], which [ReadAligned]
// and [ReadAll] use when a store has it (see [AlignedBuffer]).
//
// A store may also read several blobs at once: the optional [BatchReader]
// says which blobs lie back to back in storage ([Adjacent]) and reads a run
// of them with one device read ([ReadBatch]), falling back to one read per
// blob for stores without it. A caller that reads many small blobs in the
// order they were put (a layer of shard versions, say) pays the per-read
// latency once per run instead of once per blob.
//
// Implementations register under a URI scheme, as database/sql drivers do,
// and are chosen by the URI given to [Open] or [Create]:
//
//	mem:NAME      in-process memory (this package), for tests
//	file:PATH     storage/flatfile: a directory holding one data file and an index
//	badger:PATH   storage/badger: a Badger database directory
//
// A program imports the implementations it wants for their side effect:
//
//	import _ "github.com/wrxlabs/wrx/storage/flatfile"
//
// Wrappers compose around any Store: [Throttle] emulates a slower device
// (bandwidth plus per-read latency), [Faulty] and [FaultyWrites] inject
// errors, short reads and corruption for tests, and [Counting] records
// every read so a test can prove what a request touched.
//
// Checksums of blob contents are the business of the layer above: the
// manifest records a CRC32C for every shard version and the reader verifies
// it, because only that layer can name the shard (layer, head, fidelity) that
// failed. The stores themselves guard their own structure: the flat-file
// index carries its own checksum and per-blob CRCs, and Badger checksums its
// tables.
//
// # Sidecars
//
// A store never changes once committed, but some small metadata about it
// does: a device profile measured against it, for instance. Such metadata
// goes in sidecars, named files of up to [MaxSidecarSize] bytes kept beside
// the store and addressed by the store's URI ([WriteSidecar],
// [ReadSidecar], [SidecarNames]). Writing one is atomic and leaves the
// store, and handles open on it, untouched; replacing the store drops them.
// Drivers offer them through the optional [SidecarDriver]: file: and
// badger: keep them as files in a subdirectory of the store directory, mem:
// in memory. The wrappers need nothing, since sidecars go by URI.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// Errors that callers can test with errors.Is. Errors returned by stores wrap
// them and add what failed: the key, the path, the offset.
var (
	// ErrNotFound means a key is not in the store.
	ErrNotFound = errors.New("blob not found")
	// ErrClosed means a store or writer was used after Close, Commit or Abort.
	ErrClosed = errors.New("store is closed")
	// ErrExists means Create found a store already at the location and
	// CreateOptions.Overwrite was not set.
	ErrExists = errors.New("store already exists")
)

// MaxKeyLen is the longest key, in bytes, that every implementation accepts.
const MaxKeyLen = 1024

// Store reads blobs from a committed store. Implementations are safe for
// concurrent use by multiple goroutines, except that Close must not race
// with calls it would invalidate; after Close every method returns an error
// wrapping [ErrClosed].
type Store interface {
	// Size returns the length in bytes of the blob under key.
	Size(ctx context.Context, key string) (int64, error)

	// ReadAt reads len(dst) bytes of the blob under key, starting at byte off
	// of the blob, into dst. It returns the number of bytes read. As with
	// io.ReaderAt, n < len(dst) only comes with an error: when the range
	// runs past the end of the blob, the bytes that exist are read and the
	// error wraps io.EOF. A negative off is an error.
	//
	// ReadAt never writes past len(dst), whatever the capacity of dst. A
	// store that reads with direct IO bounces what it cannot read straight
	// into dst; a caller that can spare the slack past len(dst) avoids that
	// with [AlignedReader].
	ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error)

	// Keys returns, in sorted order, every key that starts with prefix.
	Keys(ctx context.Context, prefix string) ([]string, error)

	// Close releases the store. Calling Close again returns nil.
	Close() error
}

// Writer builds a new store. It is used by one goroutine at a time.
//
// The idiom is:
//
//	w, err := storage.Create(ctx, uri, storage.CreateOptions{})
//	if err != nil { ... }
//	defer w.Abort() // a no-op once Commit has succeeded
//	... w.Put(ctx, key, blob) ...
//	return w.Commit(ctx)
type Writer interface {
	// Put adds a blob. The writer does not keep data after Put returns. A
	// key may be put only once; keys must be valid per [CheckKey].
	Put(ctx context.Context, key string, data []byte) error

	// Commit makes every blob put so far visible, atomically, at the
	// location the writer was created for. After Commit, with or without an
	// error, the writer is finished. If Commit fails the location holds what
	// it held before Create.
	Commit(ctx context.Context) error

	// Abort discards everything put and removes temporary files. After a
	// successful Commit, or a second time, it does nothing and returns nil.
	Abort() error
}

// CreateOptions tunes [Create]. The zero value refuses to replace an
// existing store.
type CreateOptions struct {
	// Overwrite lets Commit replace an existing store at the location,
	// atomically where the platform allows it. Implementations refuse to
	// replace something that is not one of their stores.
	Overwrite bool
}

// DirectIO says whether a store may or must bypass the operating system's
// page cache. Only implementations that read files directly (flatfile)
// honour it; others ignore it.
type DirectIO int

const (
	// DirectAuto uses direct IO where the platform and filesystem support
	// it, and falls back to ordinary reads where they do not (tmpfs, for
	// example, may refuse O_DIRECT).
	DirectAuto DirectIO = iota
	// DirectOff always reads through the page cache.
	DirectOff
	// DirectRequired fails Open when direct IO is not available.
	DirectRequired
)

// String returns "auto", "off" or "required".
func (d DirectIO) String() string {
	switch d {
	case DirectAuto:
		return "auto"
	case DirectOff:
		return "off"
	case DirectRequired:
		return "required"
	}
	return fmt.Sprintf("DirectIO(%d)", int(d))
}

// OpenOptions tunes [OpenWith]. The zero value is what [Open] uses.
type OpenOptions struct {
	// Direct chooses direct IO for stores that support it.
	Direct DirectIO
}

// Driver opens and creates the stores of one URI scheme. Location is the
// URI with the scheme and its colon removed (and a leading "//" removed, so
// file:///tmp/x and file:/tmp/x are the same). A driver may also keep
// sidecars, by implementing [SidecarDriver].
type Driver interface {
	Open(ctx context.Context, location string, opts OpenOptions) (Store, error)
	Create(ctx context.Context, location string, opts CreateOptions) (Writer, error)
}

var (
	driversMu sync.RWMutex
	drivers   = map[string]Driver{}
)

// Register makes a driver available under scheme (without the colon). It
// panics if scheme is empty, malformed or already registered, or d is nil,
// since that is a programming error in an init function.
func Register(scheme string, d Driver) {
	driversMu.Lock()
	defer driversMu.Unlock()
	if d == nil || !validScheme(scheme) {
		panic(fmt.Sprintf("storage: Register with invalid scheme %q or nil driver", scheme))
	}
	if _, dup := drivers[scheme]; dup {
		panic("storage: Register called twice for scheme " + scheme)
	}
	drivers[scheme] = d
}

// Schemes lists the registered URI schemes in sorted order.
func Schemes() []string {
	driversMu.RLock()
	defer driversMu.RUnlock()
	s := make([]string, 0, len(drivers))
	for k := range drivers {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// driverFor splits uri into its driver and location.
func driverFor(uri string) (Driver, string, error) {
	scheme, loc, ok := strings.Cut(uri, ":")
	if !ok || !validScheme(scheme) {
		return nil, "", fmt.Errorf("storage: %q is not a store URI (want SCHEME:LOCATION, with scheme one of %v)", uri, Schemes())
	}
	loc = strings.TrimPrefix(loc, "//")
	if loc == "" {
		return nil, "", fmt.Errorf("storage: store URI %q has an empty location", uri)
	}
	driversMu.RLock()
	d, ok := drivers[scheme]
	driversMu.RUnlock()
	if !ok {
		return nil, "", fmt.Errorf("storage: no driver for scheme %q in %q (have %v; is the implementation imported?)", scheme, uri, Schemes())
	}
	return d, loc, nil
}

// Open opens the committed store at uri with default options. A location
// that holds no store gives an error wrapping fs.ErrNotExist.
func Open(ctx context.Context, uri string) (Store, error) {
	return OpenWith(ctx, uri, OpenOptions{})
}

// OpenWith opens the committed store at uri.
func OpenWith(ctx context.Context, uri string, opts OpenOptions) (Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", uri, err)
	}
	d, loc, err := driverFor(uri)
	if err != nil {
		return nil, err
	}
	return d.Open(ctx, loc, opts)
}

// Create starts writing a new store at uri. Nothing is visible at uri until
// the writer's Commit succeeds.
func Create(ctx context.Context, uri string, opts CreateOptions) (Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage: create %s: %w", uri, err)
	}
	d, loc, err := driverFor(uri)
	if err != nil {
		return nil, err
	}
	return d.Create(ctx, loc, opts)
}

// CheckKey reports whether key is acceptable to every implementation: not
// empty, at most [MaxKeyLen] bytes, valid UTF-8, and free of NUL bytes.
func CheckKey(key string) error {
	switch {
	case key == "":
		return errors.New("storage: empty key")
	case len(key) > MaxKeyLen:
		return fmt.Errorf("storage: key %.40q... is %d bytes, longer than %d", key, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("storage: key %q is not valid UTF-8", key)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("storage: key %q contains a NUL byte", key)
	}
	return nil
}

// CheckRange validates a read of n bytes at off of a blob of size bytes, the
// way every Store.ReadAt must. It returns how many bytes exist to read, and
// an error wrapping io.EOF when that is fewer than n, or a plain error for a
// negative offset. Implementations use it so that all of them fail alike.
func CheckRange(key string, size, off int64, n int) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %q: negative offset %d", key, off)
	}
	avail := size - off
	if avail < 0 {
		avail = 0
	}
	if int64(n) <= avail {
		return n, nil
	}
	return int(avail), fmt.Errorf("read %q: %d bytes at offset %d run past the end of the %d-byte blob: %w", key, n, off, size, io.EOF)
}
