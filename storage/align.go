package storage

import (
	"context"
	"fmt"
	"unsafe"
)

// Align is the alignment, in bytes, of direct-IO buffers, file offsets and
// lengths. 4096 covers the logical block size of every disk and flash device
// WRX targets (512 would be enough for some, never too little for any).
const Align = 4096

// AlignUp rounds n up to a multiple of [Align].
func AlignUp(n int64) int64 { return (n + Align - 1) &^ (Align - 1) }

// AlignedBuffer returns a slice of length n whose first byte sits at a
// multiple of [Align] in memory and whose capacity is n rounded up to a
// multiple of Align. A whole blob read into such a buffer with
// [ReadAligned] is a single direct-IO read with no bounce copy.
//
// It panics if n is negative, as make does.
func AlignedBuffer(n int) []byte {
	if n < 0 {
		panic(fmt.Sprintf("storage: AlignedBuffer(%d)", n))
	}
	c := int(AlignUp(int64(n)))
	if c == 0 {
		return []byte{}
	}
	// Go does not promise alignment beyond the size class, so over-allocate
	// by one block and slide to the first aligned address. The garbage
	// collector never moves heap objects, so the alignment holds for the
	// buffer's lifetime.
	raw := make([]byte, c+Align)
	skip := int(-uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & (Align - 1))
	return raw[skip : skip+n : skip+c]
}

// IsAligned reports whether b starts at a multiple of [Align] in memory.
// An empty slice counts as aligned.
func IsAligned(b []byte) bool {
	if cap(b) == 0 {
		return true
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))&(Align-1) == 0
}

// AlignedReader is an optional capability of a [Store]: a read allowed to
// land whole [Align]-byte sectors in the caller's memory, so that a store
// reading with direct IO needs no bounce buffer for the partial sector at
// the end of a range. Callers reach it through [ReadAligned], which falls
// back to ReadAt for stores without it.
//
// The wrappers of this package ([Throttle], [Counting], [Faulty]) implement
// it by forwarding to the store they wrap, so wrapping a direct-IO store
// keeps its reads direct.
type AlignedReader interface {
	// ReadAligned reads like [Store.ReadAt], with the same results: the
	// same n, errors and bytes in dst[:n]. In addition it may overwrite
	// dst[len(dst):m], where m is the smaller of cap(dst) and len(dst)
	// rounded up to a multiple of Align; what those bytes hold afterwards
	// is unspecified. It never writes past m. By calling it the caller
	// offers that slack as scratch space; a caller that packs several
	// reads into one arena withholds it with a full slice expression,
	// buf[i:j:j], and then gets exactly ReadAt.
	//
	// What the slack buys depends on the store. storage/flatfile reads
	// straight into dst, with no copy, when dst comes from [AlignedBuffer]
	// (aligned in memory, with capacity for the rounded-up length) and off
	// is a multiple of Align, as for a whole blob.
	ReadAligned(ctx context.Context, key string, dst []byte, off int64) (int, error)
}

// ReadAligned reads len(dst) bytes of the blob under key at off into dst,
// through s's [AlignedReader] when s has one and through s.ReadAt
// otherwise. Either way it may overwrite dst[len(dst):cap(dst)] up to the
// next multiple of [Align], as AlignedReader describes, and returns what
// ReadAt would.
func ReadAligned(ctx context.Context, s Store, key string, dst []byte, off int64) (int, error) {
	if ar, ok := s.(AlignedReader); ok {
		return ar.ReadAligned(ctx, key, dst, off)
	}
	return s.ReadAt(ctx, key, dst, off)
}

// ReadAll reads the whole blob under key. It reuses buf when buf is aligned
// and its capacity holds the blob rounded up to [Align], and otherwise
// allocates a new buffer with [AlignedBuffer]; either way the result is
// aligned, so passing it back in on the next call lets a stream of reads
// share one buffer. It reads with [ReadAligned], so that for a direct-IO
// store each blob is a single read straight into the buffer; the bytes of
// the buffer past the blob are unspecified afterwards.
func ReadAll(ctx context.Context, s Store, key string, buf []byte) ([]byte, error) {
	size, err := s.Size(ctx, key)
	if err != nil {
		return nil, err
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("read %q: blob of %d bytes does not fit in memory", key, size)
	}
	if !IsAligned(buf) || int64(cap(buf)) < AlignUp(size) {
		buf = AlignedBuffer(int(size))
	}
	buf = buf[:size]
	n, err := ReadAligned(ctx, s, key, buf, 0)
	if err != nil {
		return buf[:n], err
	}
	return buf, nil
}
