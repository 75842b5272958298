// Package offheap allocates large buffers outside Go's collected heap.
//
// A buffer that the collector manages counts in the process's resident set
// and also raises the heap goal (GOGC), so that up to as much again of
// garbage may accumulate before the next collection: a budget of B bytes of
// buffers can cost 2B of memory. Anonymous memory maps count once, are
// page-aligned (so direct IO can read into them), and are given back to the
// system the moment they are freed. Where maps are not available the
// buffers come from the heap.
//
// Buffers must hold no Go pointers, and must not be used after Free.
package offheap

import "fmt"

// Bytes returns a zeroed buffer of n bytes whose first byte is aligned to
// at least 4096 bytes. Free it with Free.
func Bytes(n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("offheap: %d bytes", n)
	}
	if n == 0 {
		return []byte{}, nil
	}
	return alloc(n)
}

// Free gives b, from Bytes, back to the system. Freeing nil or an empty
// buffer does nothing.
func Free(b []byte) error {
	if cap(b) == 0 {
		return nil
	}
	return free(b[:cap(b)])
}
