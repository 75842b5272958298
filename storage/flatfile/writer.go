package flatfile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/wrxlabs/wrx/storage"
)

// Writer builds a flat-file store. See the package documentation for how
// Commit makes it appear atomically.
type Writer struct {
	path      string // final store directory
	tmp       string // temporary directory holding the files being written
	overwrite bool
	data      *os.File
	bw        *bufio.Writer
	off       int64 // bytes written to the data file so far
	entries   []entry
	seen      map[string]bool
	done      bool
	failed    error // the write error that ended the writer, if one did
}

// Create starts a store in directory path. The parent directory must exist.
// Without opts.Overwrite an existing path is refused with an error wrapping
// [storage.ErrExists]; with it, only an existing flat-file store or an empty
// directory may be replaced, so that a mistyped path cannot wipe unrelated
// files.
func Create(ctx context.Context, path string, opts storage.CreateOptions) (*Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("flatfile: create %s: %w", path, err)
	}
	path = filepath.Clean(path)
	parent := filepath.Dir(path)
	if fi, err := os.Stat(parent); err != nil {
		return nil, fmt.Errorf("flatfile: create %s: parent directory: %w", path, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("flatfile: create %s: parent %s is not a directory", path, parent)
	}
	if err := checkReplaceable(path, opts.Overwrite); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("flatfile: create %s: %w", path, err)
	}
	dataPath := filepath.Join(tmp, DataFile)
	f, err := os.OpenFile(dataPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("flatfile: create %s: %w", path, err)
	}
	return &Writer{
		path:      path,
		tmp:       tmp,
		overwrite: opts.Overwrite,
		data:      f,
		bw:        bufio.NewWriterSize(f, 1<<20),
		seen:      map[string]bool{},
	}, nil
}

// checkReplaceable reports whether a store may be committed at path.
func checkReplaceable(path string, overwrite bool) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("flatfile: create %s: %w", path, err)
	}
	if !overwrite {
		return fmt.Errorf("flatfile: create %s: %w", path, storage.ErrExists)
	}
	if !fi.IsDir() {
		return fmt.Errorf("flatfile: create %s: will not overwrite: it is not a directory", path)
	}
	names, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("flatfile: create %s: %w", path, err)
	}
	for _, n := range names {
		if n.Name() != DataFile && n.Name() != IndexFile {
			return fmt.Errorf("flatfile: create %s: will not overwrite: it holds %q, so it is not a flat-file store", path, n.Name())
		}
	}
	return nil
}

// fail ends the writer after a write error and removes its temporary files
// at once, so a full disk is not left fuller.
func (w *Writer) fail(err error) error {
	err = fmt.Errorf("flatfile: create %s: %w", w.path, err)
	w.failed = err
	w.cleanup()
	return err
}

func (w *Writer) cleanup() {
	w.done = true
	if w.data != nil {
		w.data.Close()
		w.data = nil
	}
	os.RemoveAll(w.tmp)
	w.entries, w.seen, w.bw = nil, nil, nil
}

func (w *Writer) usable(op string) error {
	if w.failed != nil {
		return fmt.Errorf("flatfile: %s: writer failed earlier: %w", op, w.failed)
	}
	if w.done {
		return fmt.Errorf("flatfile: create %s: %s: %w", w.path, op, storage.ErrClosed)
	}
	return nil
}

var zeros [storage.Align]byte

// pad writes zeros up to the next multiple of the alignment.
func (w *Writer) pad() error {
	if n := storage.AlignUp(w.off) - w.off; n > 0 {
		if _, err := w.bw.Write(zeros[:n]); err != nil {
			return err // an *os.PathError, which names the file
		}
		w.off += n
	}
	return nil
}

// Put implements [storage.Writer]. The blob is written to the temporary
// data file before Put returns (through a 1 MiB buffer), so memory does not
// grow with the store.
func (w *Writer) Put(ctx context.Context, key string, data []byte) error {
	if err := w.usable(fmt.Sprintf("put %q", key)); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("flatfile: create %s: put %q: %w", w.path, key, err)
	}
	if err := storage.CheckKey(key); err != nil {
		return fmt.Errorf("flatfile: create %s: put: %w", w.path, err)
	}
	if w.seen[key] {
		return fmt.Errorf("flatfile: create %s: put %q: key already written", w.path, key)
	}
	if err := w.pad(); err != nil {
		return w.fail(err)
	}
	if _, err := w.bw.Write(data); err != nil {
		return w.fail(err)
	}
	w.entries = append(w.entries, entry{key: key, offset: w.off, size: int64(len(data)), crc: crc32.Checksum(data, castagnoli)})
	w.seen[key] = true
	w.off += int64(len(data))
	return nil
}

// Commit implements [storage.Writer].
func (w *Writer) Commit(ctx context.Context) error {
	if err := w.usable("commit"); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		w.cleanup()
		return fmt.Errorf("flatfile: create %s: commit: %w", w.path, err)
	}
	if err := w.finishFiles(); err != nil {
		return w.fail(err)
	}
	if err := w.install(); err != nil {
		return w.fail(err)
	}
	w.done = true
	w.entries, w.seen, w.bw = nil, nil, nil
	return nil
}

// finishFiles makes the temporary directory a complete, durable store.
func (w *Writer) finishFiles() error {
	if err := w.pad(); err != nil {
		return err
	}
	// Errors from the file are *os.PathErrors, which name it.
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if err := w.data.Sync(); err != nil {
		return err
	}
	dropCache(w.data)
	if err := w.data.Close(); err != nil {
		w.data = nil
		return err
	}
	w.data = nil

	slices.SortFunc(w.entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	indexPath := filepath.Join(w.tmp, IndexFile)
	if err := writeFileSync(indexPath, encodeIndex(w.entries, w.off)); err != nil {
		return err
	}
	return syncDir(w.tmp)
}

// install moves the finished temporary directory to w.path.
func (w *Writer) install() error {
	parent := filepath.Dir(w.path)
	_, err := os.Lstat(w.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := renameNoReplace(w.tmp, w.path); err != nil {
			if errors.Is(err, fs.ErrExist) && !w.overwrite {
				return fmt.Errorf("%w (created by someone else meanwhile)", storage.ErrExists)
			}
			return fmt.Errorf("rename %s to %s: %w", w.tmp, w.path, err)
		}
	case err != nil:
		return err
	default:
		// Re-check: the location may have changed since Create.
		if err := checkReplaceable(w.path, w.overwrite); err != nil {
			return err
		}
		if err := replaceDir(w.tmp, w.path); err != nil {
			return err
		}
	}
	return syncDir(parent)
}

// replaceDir puts directory src at dst, which holds an old store, and
// removes the old one. Where the platform can swap two directories
// atomically, readers see the old store or the new one and nothing between.
// Elsewhere the old store is first renamed aside, leaving a moment with no
// store at dst (but never a partial one).
func replaceDir(src, dst string) error {
	err := exchange(src, dst)
	if err == nil {
		// src now holds the old store.
		if err := os.RemoveAll(src); err != nil {
			return fmt.Errorf("remove replaced store (now at %s): %w", src, err)
		}
		return nil
	}
	if !errors.Is(err, errNoExchange) {
		return fmt.Errorf("swap %s with %s: %w", src, dst, err)
	}
	old, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".old-")
	if err != nil {
		return err
	}
	if err := os.Rename(dst, filepath.Join(old, "store")); err != nil {
		os.Remove(old)
		return fmt.Errorf("move old store %s aside: %w", dst, err)
	}
	if err := os.Rename(src, dst); err != nil {
		// Put the old store back so that a failed overwrite changes nothing.
		os.Rename(filepath.Join(old, "store"), dst)
		os.RemoveAll(old)
		return fmt.Errorf("rename %s to %s: %w", src, dst, err)
	}
	return os.RemoveAll(old)
}

// Abort implements [storage.Writer].
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.cleanup()
	return nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a directory's entries (new files, renames) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// Windows cannot fsync a directory; its renames are durable by other means.
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}
