package fsutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/wrxlabs/wrx/storage"
)

// SidecarDir is the subdirectory of a store directory that holds the
// store's sidecars ([storage.WriteSidecar]), one file per sidecar, named
// as the sidecar. Nothing else in the store directory is touched when a
// sidecar is written, and replacing the store (Create with Overwrite)
// replaces the whole directory, sidecars included.
const SidecarDir = "sidecar"

// tmpInfix marks the temporary files of WriteFileAtomic: ".NAME.tmp-RANDOM".
const tmpInfix = ".tmp-"

// WriteFileAtomic replaces dir/name with a file holding data and mode perm.
// It writes a temporary file in dir, fsyncs it, renames it over name and
// fsyncs dir, so a crash leaves the previous file or the new one, never
// part of one, and a reader never sees part of one. Concurrent writers of
// different names do not interfere; of concurrent writers of one name, the
// last rename wins, whole. Any failure (a full disk, say) removes the
// temporary file. A crash can leave one behind, named ".NAME.tmp-*", which
// readers of the directory should skip. Errors name the file.
func WriteFileAtomic(dir, name string, data []byte, perm fs.FileMode) (err error) {
	f, err := os.CreateTemp(dir, "."+name+tmpInfix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close() // may be closed already; the error is not news
			os.Remove(tmp)
		}
	}()
	// Errors from f are *os.PathErrors naming the temporary file.
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	if err := SyncDir(dir); err != nil {
		// The new file is in place, but may not survive a crash.
		return fmt.Errorf("%s written, but not made durable: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// Sidecars are the sidecars of one directory-based store: the files of
// SidecarDir in the store directory Dir.
type Sidecars struct {
	// Dir is the store directory.
	Dir string
	// Marker is a file that every committed store of the kind holds in
	// Dir. Its absence means there is no store: reads and writes fail with
	// an error wrapping fs.ErrNotExist, and no sidecar directory is made
	// where a store would later be refused as existing.
	Marker string
}

func (s Sidecars) dir() string { return filepath.Join(s.Dir, SidecarDir) }

// checkStore fails unless Dir holds a committed store.
func (s Sidecars) checkStore() error {
	if _, err := os.Stat(filepath.Join(s.Dir, s.Marker)); err != nil {
		return fmt.Errorf("no store in %s: %w", s.Dir, err)
	}
	return nil
}

// Write creates or replaces the sidecar name with data, with
// WriteFileAtomic; it makes SidecarDir (durably) if it is missing.
func (s Sidecars) Write(name string, data []byte) error {
	if err := storage.CheckSidecarName(name); err != nil {
		return err
	}
	if err := s.checkStore(); err != nil {
		return err
	}
	dir := s.dir()
	switch err := os.Mkdir(dir, 0o755); {
	case err == nil:
		if err := SyncDir(s.Dir); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrExist):
		return err
	}
	return WriteFileAtomic(dir, name, data, 0o644)
}

// Read returns the sidecar name, or an error wrapping [storage.ErrNotFound]
// if there is none.
func (s Sidecars) Read(name string) ([]byte, error) {
	if err := storage.CheckSidecarName(name); err != nil {
		return nil, err
	}
	if err := s.checkStore(); err != nil {
		return nil, err
	}
	path := filepath.Join(s.dir(), name)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no sidecar file %s: %w", path, storage.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file was renamed into place whole, so whatever it holds is one
	// complete version; the limit only guards against a stray huge file.
	b, err := io.ReadAll(io.LimitReader(f, storage.MaxSidecarSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > storage.MaxSidecarSize {
		return nil, fmt.Errorf("sidecar file %s is larger than the %d-byte limit", path, storage.MaxSidecarSize)
	}
	return b, nil
}

// Names lists, sorted, the sidecars: the regular files of SidecarDir with
// valid sidecar names, which leaves out temporary files.
func (s Sidecars) Names() ([]string, error) {
	if err := s.checkStore(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.dir())
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, e := range entries { // sorted by name
		if e.Type().IsRegular() && storage.CheckSidecarName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// SidecarDriver implements storage.SidecarDriver for a driver whose
// stores are directories holding Marker: embed it in the driver.
type SidecarDriver struct{ Marker string }

func (d SidecarDriver) at(path string) Sidecars {
	return Sidecars{Dir: filepath.Clean(path), Marker: d.Marker}
}

// WriteSidecar implements storage.SidecarDriver.
func (d SidecarDriver) WriteSidecar(_ context.Context, path, name string, data []byte) error {
	return d.at(path).Write(name, data)
}

// ReadSidecar implements storage.SidecarDriver.
func (d SidecarDriver) ReadSidecar(_ context.Context, path, name string) ([]byte, error) {
	return d.at(path).Read(name)
}

// SidecarNames implements storage.SidecarDriver.
func (d SidecarDriver) SidecarNames(_ context.Context, path string) ([]string, error) {
	return d.at(path).Names()
}
