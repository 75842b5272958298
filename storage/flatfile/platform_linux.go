package flatfile

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/wrxlabs/wrx/storage"
)

// openData opens the data file, with O_DIRECT unless mode is DirectOff.
func openData(path string, mode storage.DirectIO) (*os.File, bool, error) {
	if mode == storage.DirectOff {
		f, err := os.Open(path)
		return f, false, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if err == nil {
		// Some filesystems accept O_DIRECT at open and refuse it at read
		// time, or need a larger alignment: probe the first block.
		if err = probe(f); err != nil {
			f.Close()
		}
	}
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return nil, false, err
	}
	if mode == storage.DirectRequired {
		return nil, false, fmt.Errorf("data file %s: the filesystem does not support direct IO (O_DIRECT): %w", path, err)
	}
	f, err = os.Open(path)
	return f, false, err
}

func probe(f *os.File) error {
	buf := storage.AlignedBuffer(storage.Align)
	_, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return fmt.Errorf("probe read of %s: %w", f.Name(), err)
	}
	return nil
}

// dropCache asks the kernel to evict f's clean pages, which it does only
// after they are written back, hence the call after fsync.
func dropCache(f *os.File) {
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// exchange swaps two directories atomically with renameat2(RENAME_EXCHANGE).
func exchange(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return errNoExchange
	}
	return err
}

// renameNoReplace renames old to new, failing with an error wrapping
// fs.ErrExist if new exists, atomically where the filesystem supports
// RENAME_NOREPLACE.
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return renameCheck(old, new)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
	}
	return nil
}
