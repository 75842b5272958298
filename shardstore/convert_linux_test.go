package shardstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// mountTmpfs mounts a tmpfs of size bytes on a temporary directory and
// unmounts it when t ends. It needs root, as CI has.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount tmpfs here (%v); this test needs root", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestConvertFullDisk converts the synthetic model at every fidelity onto
// a filesystem with room for about half of it, once where there is no
// store and once over a smaller store made before. Convert must fail with
// ENOSPC, leave nothing behind (no temporary directory, no store in the
// first case), and in the second leave the previous store whole.
func TestConvertFullDisk(t *testing.T) {
	ctx := context.Background()
	m := storetest.SynthModel(t)
	tok := storetest.SynthTokenizer(t)
	// The size of the whole store, measured on an ordinary disk.
	full := filepath.Join(t.TempDir(), "full")
	if err := shardstore.Convert(ctx, "file:"+full, m, tok, shardstore.ConvertOptions{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(full, "data"))
	if err != nil {
		t.Fatal(err)
	}
	for _, previous := range []bool{false, true} {
		t.Run(fmt.Sprintf("previous=%v", previous), func(t *testing.T) {
			mnt := mountTmpfs(t, fi.Size()/2)
			path := filepath.Join(mnt, "store")
			uri := "file:" + path
			var oldID string
			if previous {
				if err := shardstore.Convert(ctx, uri, m, tok, shardstore.ConvertOptions{Fidelities: []quant.Fidelity{2}}); err != nil {
					t.Fatal(err)
				}
				s, err := shardstore.OpenURI(ctx, uri)
				if err != nil {
					t.Fatal(err)
				}
				oldID = s.ContentID()
				s.Close()
			}
			err := shardstore.Convert(ctx, uri, m, tok, shardstore.ConvertOptions{Overwrite: true})
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), path) {
				t.Fatalf("converting %d bytes onto %d: err = %v, want ENOSPC naming %s", fi.Size(), fi.Size()/2, err, path)
			}
			t.Logf("error: %v", err)
			entries, _ := os.ReadDir(mnt)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if !previous && len(names) != 0 || previous && (len(names) != 1 || names[0] != "store") {
				t.Errorf("left on the full filesystem: %v", names)
			}
			r, err := shardstore.VerifyURI(ctx, uri)
			switch {
			case !previous:
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a store opens after the failed convert: %+v, %v", r, err)
				}
			case err != nil || !r.OK():
				t.Errorf("previous store after the failed convert: %+v, %v", r, err)
			default:
				s, err := shardstore.OpenURI(ctx, uri)
				if err != nil {
					t.Fatal(err)
				}
				if s.ContentID() != oldID {
					t.Errorf("previous store changed: content %s, was %s", s.ContentID(), oldID)
				}
				s.Close()
			}
		})
	}
}
