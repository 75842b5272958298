package badger_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wrxlabs/wrx/storage"
)

// mount mounts a fresh filesystem on a temporary directory and unmounts it
// when t ends; it skips t where mounting is not permitted.
func mount(t *testing.T, fstype, data string, flags uintptr) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount(fstype, dir, fstype, flags, data); err != nil {
		t.Skipf("cannot mount %s here (%v); this test needs root", fstype, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestFullDisk fills a 48 MiB tmpfs. Without the free-space check this
// test dies of SIGBUS inside Badger.
func TestFullDisk(t *testing.T) {
	ctx := context.Background()
	mnt := mount(t, "tmpfs", "size=48m", 0)
	path := filepath.Join(mnt, "store")
	w, err := storage.Create(ctx, "badger:"+path, storage.CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Abort()
	blob := make([]byte, 4<<20)
	for i := 0; err == nil && i < 20; i++ {
		err = w.Put(ctx, fmt.Sprintf("blob%02d", i), blob)
	}
	if err == nil {
		err = w.Commit(ctx)
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), path) {
		t.Fatalf("writing 80 MB to a 48 MiB filesystem: err = %v, want ENOSPC naming %s", err, path)
	}
	t.Logf("error: %v", err)
	if entries, _ := os.ReadDir(mnt); len(entries) != 0 {
		t.Errorf("temporary files left on the full filesystem: %v", entries)
	}
	if _, err := storage.Open(ctx, "badger:"+path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open after the failed write: err = %v, want fs.ErrNotExist", err)
	}
}

func TestReadOnlyFilesystem(t *testing.T) {
	mnt := mount(t, "tmpfs", "size=1m", unix.MS_RDONLY)
	path := filepath.Join(mnt, "store")
	_, err := storage.Create(context.Background(), "badger:"+path, storage.CreateOptions{})
	if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), path) {
		t.Errorf("Create on a read-only filesystem: err = %v, want EROFS naming %s", err, path)
	}
}

// TestSidecarFullDisk: a sidecar write that runs out of space fails with
// ENOSPC, leaves no temporary file, and leaves the previous version and the
// store as they were.
func TestSidecarFullDisk(t *testing.T) {
	ctx := context.Background()
	mnt := mount(t, "tmpfs", "size=48m", 0)
	dir := filepath.Join(mnt, "store")
	writeStore(t, dir)
	uri := "badger:" + dir
	old := []byte(`{"version":1}`)
	if err := storage.WriteSidecar(ctx, uri, "profile.json", old); err != nil {
		t.Fatal(err)
	}
	// Fill the filesystem.
	f, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for chunk := make([]byte, 1<<20); len(chunk) > 0; {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", mnt, err)
			}
			chunk = chunk[:len(chunk)/2]
		}
	}
	f.Close()

	err = storage.WriteSidecar(ctx, uri, "profile.json", make([]byte, 200_000))
	sidecars := filepath.Join(dir, "sidecar")
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), sidecars) {
		t.Fatalf("WriteSidecar on a full filesystem: err = %v, want ENOSPC naming %s", err, sidecars)
	}
	if entries, _ := os.ReadDir(sidecars); len(entries) != 1 || entries[0].Name() != "profile.json" {
		t.Errorf("sidecar directory after the failed write holds %v, want only profile.json", entries)
	}
	if got, err := storage.ReadSidecar(ctx, uri, "profile.json"); err != nil || string(got) != string(old) {
		t.Errorf("ReadSidecar after the failed write = %q, %v; want the previous version %q", got, err, old)
	}
	s, err := storage.Open(ctx, uri)
	if err != nil {
		t.Fatalf("Open after the failed write: %v", err)
	}
	defer s.Close()
	if got, err := storage.ReadAll(ctx, s, "a", nil); err != nil || len(got) != 100_000 {
		t.Errorf("ReadAll(a) after the failed write: %d bytes, %v", len(got), err)
	}
}
