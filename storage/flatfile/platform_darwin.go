package flatfile

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/wrxlabs/wrx/storage"
)

// openData opens the data file and, unless mode is DirectOff, sets
// F_NOCACHE, macOS's way to keep reads out of the unified buffer cache. It
// has no alignment rules, so it cannot fail the way O_DIRECT can.
func openData(path string, mode storage.DirectIO) (*os.File, bool, error) {
	f, err := os.Open(path)
	if err != nil || mode == storage.DirectOff {
		return f, false, err
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_NOCACHE, 1); err != nil {
		if mode == storage.DirectRequired {
			f.Close()
			return nil, false, err
		}
		return f, false, nil
	}
	return f, true, nil
}

func dropCache(*os.File) {}
