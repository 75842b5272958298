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
// multiple of Align. A whole blob read into such a buffer is a single
// direct-IO read with no bounce copy.
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

// ReadAll reads the whole blob under key. It reuses buf when buf is aligned
// and its capacity holds the blob rounded up to [Align], and otherwise
// allocates a new buffer with [AlignedBuffer]; either way the result is
// aligned, so passing it back in on the next call lets a stream of reads
// share one buffer.
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
	n, err := s.ReadAt(ctx, key, buf, 0)
	if err != nil {
		return buf[:n], err
	}
	return buf, nil
}
