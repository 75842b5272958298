//go:build !linux && !darwin

package flatfile

import (
	"fmt"
	"os"

	"github.com/wrxlabs/wrx/storage"
)

// openData opens the data file for ordinary reads: this platform has no
// direct IO that WRX uses.
func openData(path string, mode storage.DirectIO) (*os.File, bool, error) {
	if mode == storage.DirectRequired {
		return nil, false, fmt.Errorf("data file %s: direct IO is not implemented on this platform", path)
	}
	f, err := os.Open(path)
	return f, false, err
}

func dropCache(*os.File) {}
