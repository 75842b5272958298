//go:build !(linux || darwin || freebsd)

package badger

// freeBytes cannot tell on this platform.
func freeBytes(dir string) (int64, bool) { return 0, false }
