//go:build linux || darwin || freebsd

package offheap

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Mapped reports whether buffers live outside the collected heap.
const Mapped = true

func alloc(n int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("offheap: map %d bytes: %w", n, err)
	}
	return b, nil
}

func free(b []byte) error {
	if err := unix.Munmap(b); err != nil {
		return fmt.Errorf("offheap: unmap %d bytes: %w", len(b), err)
	}
	return nil
}
