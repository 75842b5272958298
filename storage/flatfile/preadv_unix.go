//go:build linux || darwin

package flatfile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// preadv reads head and then tail from f at off with one preadv(2), which
// O_DIRECT accepts when every buffer is aligned in address and length. It
// goes through f's RawConn so that a concurrent Close waits for it.
func preadv(f *os.File, head, tail []byte, off int64) (int, error) {
	return preadvN(f, [][]byte{head, tail}, off)
}

// preadvN reads into bufs, one after the other, from f at off with one
// preadv(2); len(bufs) must not exceed maxIovecs.
func preadvN(f *os.File, bufs [][]byte, off int64) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = unix.Preadv(int(fd), bufs, off)
			if !errors.Is(rerr, unix.EINTR) {
				return true
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return max(n, 0), &os.PathError{Op: "preadv", Path: f.Name(), Err: rerr}
	}
	return n, nil
}
