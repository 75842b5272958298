package flatfile

import (
	"bufio"
	"context"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wrxlabs/wrx/storage"
	"github.com/wrxlabs/wrx/storage/internal/fsutil"
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
// [storage.ErrExists]; with it, only an existing flat-file store (with or
// without sidecars) or an empty directory may be replaced, so that a
// mistyped path cannot wipe unrelated files.
func Create(ctx context.Context, path string, opts storage.CreateOptions) (*Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("flatfile: create %s: %w", path, err)
	}
	path = filepath.Clean(path)
	tmp, err := fsutil.Prepare("flatfile", path, opts.Overwrite, isStore)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(tmp, DataFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
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

// isStore accepts a directory holding only a store's two files and its
// sidecar directory.
func isStore(names []string) bool {
	for _, n := range names {
		if n != DataFile && n != IndexFile && n != fsutil.SidecarDir {
			return false
		}
	}
	return true
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
	if err := fsutil.Install(w.tmp, w.path, w.overwrite, isStore); err != nil {
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
	return writeFileSync(indexPath, encodeIndex(w.entries, w.off))
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
