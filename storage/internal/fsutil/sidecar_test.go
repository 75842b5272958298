package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx/storage"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, data string
	}{
		{"a", "first"},
		{"a", "second, longer than the first"},
		{"a", "3rd"},
		{"b", ""},
	} {
		if err := WriteFileAtomic(dir, tc.name, []byte(tc.data), 0o640); err != nil {
			t.Fatalf("WriteFileAtomic(%q, %q): %v", tc.name, tc.data, err)
		}
		path := filepath.Join(dir, tc.name)
		if b, err := os.ReadFile(path); err != nil || string(b) != tc.data {
			t.Errorf("%s = %q, %v; want %q", path, b, err, tc.data)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, %v; want 0640", path, fi.Mode(), err)
		}
	}
	if diff := cmp.Diff(map[string]string{"a": "3rd", "b": ""}, readTree(t, dir)); diff != "" {
		t.Errorf("directory after the writes, with no temporary files (-want +got):\n%s", diff)
	}

	missing := filepath.Join(dir, "missing")
	if err := WriteFileAtomic(missing, "a", []byte("x"), 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteFileAtomic into a missing directory: err = %v, want fs.ErrNotExist", err)
	}
}

// TestSidecars covers what a crash or a stranger can leave in the sidecar
// directory, and a directory that holds no store.
func TestSidecars(t *testing.T) {
	store := t.TempDir()
	sc := Sidecars{Dir: store, Marker: "index"}

	// No marker, no store: nothing is read, nothing is made.
	if err := sc.Write("profile.json", []byte("x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Write with no store: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := sc.Read("profile.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read with no store: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := sc.Names(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Names with no store: err = %v, want fs.ErrNotExist", err)
	}
	if entries, _ := os.ReadDir(store); len(entries) != 0 {
		t.Errorf("sidecar calls on a directory with no store left %v", entries)
	}

	writeTree(t, store, map[string]string{"index": "an index"})
	if names, err := sc.Names(); err != nil || len(names) != 0 {
		t.Errorf("Names before any sidecar = %q, %v; want none", names, err)
	}
	if err := sc.Write("profile.json", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	// What a crash between creating and renaming a temporary file leaves,
	// and files that are not sidecars.
	side := filepath.Join(store, SidecarDir)
	writeTree(t, side, map[string]string{".profile.json.tmp-123": "v2, half writ", "README": "not a sidecar"})
	if err := os.Mkdir(filepath.Join(side, "subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if names, err := sc.Names(); err != nil || !cmp.Equal(names, []string{"profile.json"}) {
		t.Errorf("Names = %q, %v; want only [profile.json]", names, err)
	}
	if b, err := sc.Read("profile.json"); err != nil || string(b) != "v1" {
		t.Errorf("Read(profile.json) = %q, %v; want v1, the last complete version", b, err)
	}
	if _, err := sc.Read("missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Read(missing): err = %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"../index", ".profile.json.tmp-123", "README", ""} {
		if err := sc.Write(bad, []byte("x")); err == nil {
			t.Errorf("Write(%q) accepted a bad name", bad)
		}
		if _, err := sc.Read(bad); err == nil {
			t.Errorf("Read(%q) accepted a bad name", bad)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(store, "index")); string(b) != "an index" {
		t.Errorf("index = %q after sidecar writes", b)
	}

	// A stray huge file is refused, not read whole.
	big, err := os.Create(filepath.Join(side, "big"))
	if err != nil {
		t.Fatal(err)
	}
	big.Truncate(storage.MaxSidecarSize + 1)
	big.Close()
	if _, err := sc.Read("big"); err == nil {
		t.Errorf("Read of a %d-byte sidecar file succeeded", storage.MaxSidecarSize+1)
	}
	if names, _ := sc.Names(); !cmp.Equal(names, []string{"big", "profile.json"}) {
		t.Errorf("Names = %q", names)
	}
}
