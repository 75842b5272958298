package flatfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// errNoExchange means the platform or filesystem cannot swap two
// directories atomically.
var errNoExchange = errors.New("atomic directory exchange not supported")

// renameCheck renames old to new unless new exists. The check and the rename
// are two steps; platforms with an atomic no-replace rename use that instead.
func renameCheck(old, new string) error {
	if _, err := os.Lstat(new); err == nil {
		return fmt.Errorf("%s: %w", new, fs.ErrExist)
	}
	return os.Rename(old, new)
}
