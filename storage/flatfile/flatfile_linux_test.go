package flatfile_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wrxlabs/wrx/storage"
	"github.com/wrxlabs/wrx/storage/flatfile"
)

// mount mounts a fresh filesystem of type fstype on a temporary directory
// and unmounts it when t ends. It skips t when mounting is not permitted
// (tests normally run unprivileged).
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

// diskDir returns a temporary directory on a filesystem whose files live in
// the page cache only on demand, so that residency can be observed, and
// that supports O_DIRECT. tmpfs and ramfs are always resident.
func diskDir(t *testing.T) string {
	t.Helper()
	cwd, _ := os.Getwd()
	for _, base := range []string{"", os.TempDir(), cwd} {
		var dir string
		var err error
		if base == "" {
			dir = t.TempDir()
		} else {
			dir, err = os.MkdirTemp(base, ".flatfile-test-")
			if err != nil {
				continue
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
		}
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) != nil || uint32(st.Type) == unix.TMPFS_MAGIC || uint32(st.Type) == unix.RAMFS_MAGIC {
			continue
		}
		probe := filepath.Join(dir, ".probe")
		os.WriteFile(probe, make([]byte, 4096), 0o644)
		f, err := os.OpenFile(probe, os.O_RDONLY|unix.O_DIRECT, 0)
		os.Remove(probe)
		if err != nil {
			continue
		}
		f.Close()
		return dir
	}
	t.Skip("no disk-backed directory with O_DIRECT support found (tried t.TempDir, os.TempDir, the package directory)")
	return ""
}

// residentPages maps path and counts its pages that are in the page cache.
func residentPages(t *testing.T, path string) (resident, total int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap %s: %v", path, err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	// x/sys/unix has no wrapper for mincore(2).
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		t.Fatalf("mincore %s: %v", path, errno)
	}
	for _, v := range vec {
		if v&1 != 0 {
			resident++
		}
	}
	return resident, len(vec)
}

// dropFromCache evicts path's clean pages.
func dropFromCache(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatalf("fadvise: %v", err)
	}
}

// TestDirectReadsBypassPageCache is the proof that direct IO is real: after
// reading every blob, whole and in unaligned pieces, none of the data file
// is in the page cache. The same reads with direct IO off fill it, which
// shows the measurement can see what it looks for.
func TestDirectReadsBypassPageCache(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(diskDir(t), "store")
	sizes := []int{200_000, 1 << 20, 4096, 100, 777_777, 3 << 20, 50_000, 1}
	blobs := writeStore(t, dir, sizes...)
	data := filepath.Join(dir, flatfile.DataFile)

	readEverything := func(t *testing.T, mode storage.DirectIO) {
		s, err := flatfile.Open(ctx, dir, storage.OpenOptions{Direct: mode})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		if s.Direct() != (mode == storage.DirectRequired) {
			t.Fatalf("Direct() = %v with mode %v", s.Direct(), mode)
		}
		var buf []byte
		r := rand.New(rand.NewPCG(7, 7))
		for key, want := range blobs {
			buf, err = storage.ReadAll(ctx, s, key, buf)
			if err != nil || !bytes.Equal(buf, want) {
				t.Fatalf("ReadAll(%q): err %v, content equal %v", key, err, bytes.Equal(buf, want))
			}
			off := r.IntN(len(want))
			piece := make([]byte, min(1536, len(want)-off))
			if n, err := s.ReadAt(ctx, key, piece, int64(off)); err != nil || !bytes.Equal(piece[:n], want[off:off+n]) {
				t.Fatalf("ReadAt(%q, %d): err %v", key, off, err)
			}
		}
	}

	dropFromCache(t, data)
	if res, total := residentPages(t, data); res != 0 {
		t.Fatalf("precondition: %d of %d pages still cached after FADV_DONTNEED; cannot measure", res, total)
	}
	readEverything(t, storage.DirectRequired)
	res, total := residentPages(t, data)
	t.Logf("direct reads: %d of %d pages of the data file resident", res, total)
	if res != 0 {
		t.Errorf("after direct reads %d of %d data-file pages are in the page cache, want 0", res, total)
	}

	readEverything(t, storage.DirectOff)
	res, total = residentPages(t, data)
	t.Logf("buffered reads: %d of %d pages resident", res, total)
	if res < total*9/10 {
		t.Errorf("control: buffered reads left only %d of %d pages resident; the measurement cannot be trusted", res, total)
	}
	dropFromCache(t, data)
}

func TestCommitLeavesNothingCached(t *testing.T) {
	dir := filepath.Join(diskDir(t), "store")
	writeStore(t, dir, 1<<20, 300_000)
	res, total := residentPages(t, filepath.Join(dir, flatfile.DataFile))
	t.Logf("%d of %d pages resident after Commit", res, total)
	if res > total/10 {
		t.Errorf("a fresh store has %d of %d data pages cached; Commit should drop them", res, total)
	}
}

// TestFallbackWhereDirectIOIsRefused uses ramfs, which rejects O_DIRECT.
func TestFallbackWhereDirectIOIsRefused(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(mount(t, "ramfs", "", 0), "store")
	blobs := writeStore(t, dir, 5000, 100)

	s, err := flatfile.Open(ctx, dir, storage.OpenOptions{})
	if err != nil {
		t.Fatalf("Open with DirectAuto on ramfs: %v", err)
	}
	defer s.Close()
	if s.Direct() {
		t.Errorf("Direct() = true on ramfs")
	}
	for k, want := range blobs {
		if got, err := storage.ReadAll(ctx, s, k, nil); err != nil || !bytes.Equal(got, want) {
			t.Errorf("ReadAll(%q) on the fallback path: err %v", k, err)
		}
	}
	_, err = flatfile.Open(ctx, dir, storage.OpenOptions{Direct: storage.DirectRequired})
	if err == nil || !strings.Contains(err.Error(), "direct IO") || !strings.Contains(err.Error(), dir) {
		t.Errorf("Open with DirectRequired on ramfs: err = %v, want a direct-IO error naming the file", err)
	}
}

// TestFullDisk writes more than a 1 MiB tmpfs holds.
func TestFullDisk(t *testing.T) {
	ctx := context.Background()
	mnt := mount(t, "tmpfs", "size=1m", 0)
	path := filepath.Join(mnt, "store")
	w, err := storage.Create(ctx, "file:"+path, storage.CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Abort()
	blob := make([]byte, 300_000)
	for i := 0; err == nil && i < 10; i++ {
		err = w.Put(ctx, "blob"+string(rune('a'+i)), blob)
	}
	if err == nil {
		err = w.Commit(ctx)
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), path) {
		t.Fatalf("writing 3 MB to a 1 MiB filesystem: err = %v, want ENOSPC naming %s", err, path)
	}
	t.Logf("error: %v", err)
	if entries, _ := os.ReadDir(mnt); len(entries) != 0 {
		t.Errorf("temporary files left on the full filesystem: %v", entries)
	}
	if err := w.Put(ctx, "more", []byte("x")); err == nil {
		t.Errorf("Put after a failed write succeeded")
	}
	if err := w.Commit(ctx); err == nil {
		t.Errorf("Commit after a failed write succeeded")
	}
	if _, err := storage.Open(ctx, "file:"+path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open after the failed write: err = %v, want fs.ErrNotExist", err)
	}
}

// TestReadOnlyFilesystem: being root, chmod cannot make a directory
// unwritable, but a read-only mount can.
func TestReadOnlyFilesystem(t *testing.T) {
	mnt := mount(t, "tmpfs", "size=1m", unix.MS_RDONLY)
	path := filepath.Join(mnt, "store")
	_, err := storage.Create(context.Background(), "file:"+path, storage.CreateOptions{})
	if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), path) {
		t.Errorf("Create on a read-only filesystem: err = %v, want EROFS naming %s", err, path)
	}
}

// fill writes a file in dir until the filesystem is full, and returns it.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			break
		}
	}
	for n := len(chunk) / 2; n > 0; n /= 2 { // the last partial chunk's worth
		f.Write(chunk[:n])
	}
	return path
}

// TestSidecarFullDisk: a sidecar write that runs out of space fails with
// ENOSPC naming the file, leaves no temporary file, and leaves the previous
// version and the store as they were.
func TestSidecarFullDisk(t *testing.T) {
	ctx := context.Background()
	mnt := mount(t, "tmpfs", "size=1m", 0)
	dir := filepath.Join(mnt, "store")
	writeStore(t, dir, 100_000)
	uri := "file:" + dir
	old := []byte(`{"version":1}`)
	if err := storage.WriteSidecar(ctx, uri, "profile.json", old); err != nil {
		t.Fatal(err)
	}
	filler := fill(t, mnt)

	err := storage.WriteSidecar(ctx, uri, "profile.json", make([]byte, 200_000))
	sidecars := filepath.Join(dir, "sidecar")
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), sidecars) || !strings.Contains(err.Error(), "profile.json") {
		t.Fatalf("WriteSidecar on a full filesystem: err = %v, want ENOSPC naming %s and the sidecar", err, sidecars)
	}
	t.Logf("error: %v", err)
	if entries, _ := os.ReadDir(sidecars); len(entries) != 1 || entries[0].Name() != "profile.json" {
		t.Errorf("sidecar directory after the failed write holds %v, want only profile.json", entries)
	}
	if got, err := storage.ReadSidecar(ctx, uri, "profile.json"); err != nil || !bytes.Equal(got, old) {
		t.Errorf("ReadSidecar after the failed write = %q, %v; want the previous version %q", got, err, old)
	}
	s, err := flatfile.Open(ctx, dir, storage.OpenOptions{})
	if err != nil {
		t.Fatalf("Open after the failed write: %v", err)
	}
	defer s.Close()
	if err := s.Verify(ctx); err != nil {
		t.Errorf("Verify after the failed write: %v", err)
	}

	os.Remove(filler)
	if err := storage.WriteSidecar(ctx, uri, "profile.json", make([]byte, 200_000)); err != nil {
		t.Errorf("WriteSidecar once there is room again: %v", err)
	}
}
