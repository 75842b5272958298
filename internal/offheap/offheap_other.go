//go:build !(linux || darwin || freebsd)

package offheap

import "unsafe"

// Mapped reports whether buffers live outside the collected heap.
const Mapped = false

func alloc(n int) ([]byte, error) {
	raw := make([]byte, n+4096)
	skip := int(-uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & 4095)
	return raw[skip : skip+n : skip+n], nil
}

func free([]byte) error { return nil }
