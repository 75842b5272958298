//go:build !linux && !darwin

package flatfile

import "os"

// preadv reads head and then tail from f at off, in two reads: this
// platform has no direct IO that needs one.
func preadv(f *os.File, head, tail []byte, off int64) (int, error) {
	n, err := f.ReadAt(head, off)
	if err != nil {
		return n, err
	}
	m, err := f.ReadAt(tail, off+int64(n))
	return n + m, err
}
