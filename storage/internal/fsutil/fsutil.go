// Package fsutil holds the file-system steps shared by the directory-based
// stores (flatfile, badger): building a store in a temporary directory next
// to its target and installing it there atomically.
package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/wrxlabs/wrx/storage"
)

// errNoExchange means the platform or filesystem cannot swap two
// directories atomically.
var errNoExchange = errors.New("atomic directory exchange not supported")

// IsStore reports whether the entries of an existing directory make it a
// store that Overwrite may replace.
type IsStore func(names []string) bool

// Prepare checks that a store may be created at path and makes the
// temporary directory to build it in. The parent of path must exist.
// Without overwrite an existing path is refused with an error wrapping
// [storage.ErrExists]; with it, only a directory that is empty or that
// isStore accepts may be replaced, so that a mistyped path cannot wipe
// unrelated files. Errors name path and start with prefix.
func Prepare(prefix, path string, overwrite bool, isStore IsStore) (tmp string, err error) {
	parent := filepath.Dir(path)
	if fi, err := os.Stat(parent); err != nil {
		return "", fmt.Errorf("%s: create %s: parent directory: %w", prefix, path, err)
	} else if !fi.IsDir() {
		return "", fmt.Errorf("%s: create %s: parent %s is not a directory", prefix, path, parent)
	}
	if err := checkReplaceable(path, overwrite, isStore); err != nil {
		return "", fmt.Errorf("%s: create %s: %w", prefix, path, err)
	}
	tmp, err = os.MkdirTemp(parent, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return "", fmt.Errorf("%s: create %s: %w", prefix, path, err)
	}
	return tmp, nil
}

func checkReplaceable(path string, overwrite bool, isStore IsStore) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !overwrite {
		return storage.ErrExists
	}
	if !fi.IsDir() {
		return errors.New("will not overwrite: it is not a directory")
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	if !isStore(names) {
		return fmt.Errorf("will not overwrite: it holds %q and more, which is not a store of this kind", names[0])
	}
	return nil
}

// Install moves the finished, synced temporary directory tmp to path and
// makes the move durable. If path holds a store (allowed only with
// overwrite, and checked again now), it is replaced: atomically on Linux,
// where the two directories are swapped in one renameat2(RENAME_EXCHANGE);
// elsewhere the old store is first renamed aside, leaving a moment with no
// store at path, but never a partial one. The old store is then removed.
func Install(tmp, path string, overwrite bool, isStore IsStore) error {
	if err := SyncDir(tmp); err != nil {
		return err
	}
	_, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := renameNoReplace(tmp, path); err != nil {
			if errors.Is(err, fs.ErrExist) && !overwrite {
				return fmt.Errorf("%w (created by someone else meanwhile)", storage.ErrExists)
			}
			return err
		}
	case err != nil:
		return err
	default:
		if err := checkReplaceable(path, overwrite, isStore); err != nil {
			return err
		}
		if err := replaceDir(tmp, path); err != nil {
			return err
		}
	}
	return SyncDir(filepath.Dir(path))
}

func replaceDir(src, dst string) error {
	err := exchange(src, dst)
	if err == nil {
		// src now holds the old store.
		if err := os.RemoveAll(src); err != nil {
			return fmt.Errorf("remove the replaced store (now at %s): %w", src, err)
		}
		return nil
	}
	if !errors.Is(err, errNoExchange) {
		return err
	}
	return replaceAside(src, dst)
}

// replaceAside replaces dst by src in two renames, moving the old dst aside
// first and putting it back if the second rename fails.
func replaceAside(src, dst string) error {
	old, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".old-")
	if err != nil {
		return err
	}
	if err := os.Rename(dst, filepath.Join(old, "store")); err != nil {
		os.Remove(old)
		return fmt.Errorf("move the old store %s aside: %w", dst, err)
	}
	if err := os.Rename(src, dst); err != nil {
		// Put the old store back so that a failed overwrite changes nothing.
		os.Rename(filepath.Join(old, "store"), dst)
		os.RemoveAll(old)
		return err
	}
	return os.RemoveAll(old)
}

// renameCheck renames old to new unless new exists. The check and the rename
// are two steps; platforms with an atomic no-replace rename use that instead.
func renameCheck(old, new string) error {
	if _, err := os.Lstat(new); err == nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: fs.ErrExist}
	}
	return os.Rename(old, new)
}

// SyncDir makes a directory's entries (new files, renames) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// Windows cannot fsync a directory; its renames are durable by other means.
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return err
	}
	return nil
}

// SyncTree fsyncs every regular file under dir, and dir itself, for stores
// whose engine may not sync everything it wrote.
func SyncTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, e.Name()), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	return SyncDir(dir)
}
