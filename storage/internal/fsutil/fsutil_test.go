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

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		m[e.Name()] = string(b)
	}
	return m
}

func onlyIndex(names []string) bool { return len(names) == 1 && names[0] == "index" }

func TestInstall(t *testing.T) {
	base := t.TempDir()
	dst := filepath.Join(base, "store")

	tmp, err := Prepare("test", dst, false, onlyIndex)
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, tmp, map[string]string{"index": "v1"})
	if err := Install(tmp, dst, false, onlyIndex); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"index": "v1"}, readTree(t, dst)); diff != "" {
		t.Errorf("installed store (-want +got):\n%s", diff)
	}

	if _, err := Prepare("test", dst, false, onlyIndex); !errors.Is(err, storage.ErrExists) {
		t.Errorf("Prepare over a store without overwrite: err = %v, want ErrExists", err)
	}
	tmp, err = Prepare("test", dst, true, onlyIndex)
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, tmp, map[string]string{"index": "v2"})
	if err := Install(tmp, dst, true, onlyIndex); err != nil {
		t.Fatalf("Install(overwrite): %v", err)
	}
	if diff := cmp.Diff(map[string]string{"index": "v2"}, readTree(t, dst)); diff != "" {
		t.Errorf("replaced store (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"store": ""}, readTree(t, base)); diff != "" {
		t.Errorf("parent after two installs holds more than the store (-want +got):\n%s", diff)
	}
}

// TestReplaceAside covers the replacement used where directories cannot be
// exchanged atomically.
func TestReplaceAside(t *testing.T) {
	base := t.TempDir()
	src, dst := filepath.Join(base, "new"), filepath.Join(base, "store")
	writeTree(t, src, map[string]string{"index": "new"})
	writeTree(t, dst, map[string]string{"index": "old"})
	if err := replaceAside(src, dst); err != nil {
		t.Fatalf("replaceAside: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"index": "new"}, readTree(t, dst)); diff != "" {
		t.Errorf("store after replaceAside (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"store": ""}, readTree(t, base)); diff != "" {
		t.Errorf("parent after replaceAside (-want +got):\n%s", diff)
	}

	// A failing second rename (src missing) puts the old store back.
	if err := replaceAside(filepath.Join(base, "missing"), dst); err == nil {
		t.Fatalf("replaceAside with a missing source succeeded")
	}
	if diff := cmp.Diff(map[string]string{"index": "new"}, readTree(t, dst)); diff != "" {
		t.Errorf("store after a failed replaceAside (-want +got):\n%s", diff)
	}
}

func TestRenameCheck(t *testing.T) {
	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	writeTree(t, a, nil)
	writeTree(t, b, nil)
	if err := renameCheck(a, b); !errors.Is(err, fs.ErrExist) {
		t.Errorf("renameCheck onto an existing directory: err = %v, want fs.ErrExist", err)
	}
	if err := renameNoReplace(a, b); !errors.Is(err, fs.ErrExist) {
		t.Errorf("renameNoReplace onto an existing directory: err = %v, want fs.ErrExist", err)
	}
}

func TestPrepareRefusesNonStores(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "home")
	writeTree(t, dir, map[string]string{"thesis.tex": "precious"})
	if _, err := Prepare("test", dir, true, onlyIndex); err == nil {
		t.Errorf("Prepare(overwrite) over a directory of other files succeeded")
	}
	empty := filepath.Join(base, "empty")
	writeTree(t, empty, nil)
	tmp, err := Prepare("test", empty, true, onlyIndex)
	if err != nil {
		t.Errorf("Prepare(overwrite) over an empty directory: %v", err)
	}
	os.RemoveAll(tmp)
}
