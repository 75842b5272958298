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
