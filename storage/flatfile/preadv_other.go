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

// preadvN reads into bufs, one after the other, from f at off, one read
// per buffer.
func preadvN(f *os.File, bufs [][]byte, off int64) (int, error) {
	total := 0
	for _, b := range bufs {
		n, err := f.ReadAt(b, off+int64(total))
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
