package badger_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wrxlabs/wrx/storage"
	_ "github.com/wrxlabs/wrx/storage/badger"
	"github.com/wrxlabs/wrx/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) string {
		return "badger:" + filepath.Join(t.TempDir(), "store")
	})
}

func TestOpenRefusesNonStores(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := storage.Open(ctx, "badger:"+dir); err == nil || !strings.Contains(err.Error(), "not a complete WRX Badger store") {
		t.Errorf("Open of an empty directory: err = %v, want a 'not a complete WRX Badger store' error", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Open created files in a directory that held no store: %v", entries)
	}
	if _, err := storage.Create(ctx, "badger:/dev/null/store", storage.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "/dev/null") {
		t.Errorf("Create under a file: err = %v, want an error naming /dev/null", err)
	}
}

// writeStore commits three 100 kB blobs to a new store in dir.
func writeStore(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	w, err := storage.Create(ctx, "badger:"+dir, storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, k := range []string{"a", "b", "c"} {
		if err := w.Put(ctx, k, make([]byte, 100_000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestOpenRefusesDamage: Badger alone reads a truncated value log as empty
// values without an error; the store must refuse it at Open.
func TestOpenRefusesDamage(t *testing.T) {
	ctx := context.Background()
	damage := []struct {
		name  string
		file  func(dir string) string // the file damaged, named in the error
		apply func(path string) error
	}{
		{"truncated value log", vlog, func(p string) error { return truncateBy(p, 1000) }},
		{"extended value log", vlog, func(p string) error { return truncateBy(p, -10) }},
		{"missing value log", vlog, os.Remove},
		{"truncated file list", fileList, func(p string) error { return truncateBy(p, 3) }},
		{"flipped file list byte", fileList, func(p string) error { return flip(p, 20) }},
		{"missing file list", fileList, os.Remove},
	}
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "s")
			writeStore(t, dir)
			p := d.file(dir)
			if err := d.apply(p); err != nil {
				t.Fatal(err)
			}
			s, err := storage.Open(ctx, "badger:"+dir)
			if err == nil {
				s.Close()
				t.Fatalf("Open of a damaged store succeeded")
			}
			if !strings.Contains(err.Error(), filepath.Base(p)) {
				t.Errorf("Open err = %v, want it to name %s", err, filepath.Base(p))
			}
		})
	}
}

func vlog(dir string) string {
	m, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if len(m) != 1 {
		panic(fmt.Sprintf("want one value log in %s, have %v", dir, m))
	}
	return m[0]
}

func fileList(dir string) string { return filepath.Join(dir, "WRXFILES") }

func truncateBy(path string, n int64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.Truncate(path, fi.Size()-n)
}

func flip(path string, at int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b[at] ^= 1
	return os.WriteFile(path, b, 0o644)
}
