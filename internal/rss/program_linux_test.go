package rss

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestProgramRanges(t *testing.T) {
	maps := []byte(`00400000-00f19000 r-xp 00000000 fd:01 123 /opt/my prog
00f19000-01984000 r--p 00b19000 fd:01 123 /opt/my prog
01984000-019f0000 rw-p 01584000 fd:01 123 /opt/my prog
019f0000-01a00000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--p 00000000 fd:01 456 /opt/my prog.so
`)
	got, err := programRanges(maps, "/opt/my prog")
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]uintptr{{0x400000, 0xf19000}, {0xf19000, 0x1984000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ranges %x, want %x", got, want)
	}
	if _, err := programRanges(maps, "/other"); err == nil {
		t.Error("no mapping of /other: no error")
	}
	if _, err := programRanges([]byte("zz-00400000 r-xp 0 fd:01 1 /p\n"), "/p"); err == nil {
		t.Error("bad address: no error")
	}
}

// TestLoadProgramMakesTheExecutableResident drops the executable's
// read-only pages from the process's resident set and checks, in
// /proc/self/smaps, that after LoadProgram its read-only mappings are
// resident whole again.
func TestLoadProgramMakesTheExecutableResident(t *testing.T) {
	testLoadsProgram(t, LoadProgram)
}

// TestReadThroughMemMakesTheExecutableResident does the same for the path
// of kernels without MADV_POPULATE_READ.
func TestReadThroughMemMakesTheExecutableResident(t *testing.T) {
	testLoadsProgram(t, func() error {
		exe, _ := os.Executable()
		exe, _ = filepath.EvalSymlinks(exe)
		maps, err := os.ReadFile("/proc/self/maps")
		if err != nil {
			return err
		}
		ranges, err := programRanges(maps, exe)
		if err != nil {
			return err
		}
		for _, r := range ranges {
			if err := readThroughMem(r); err != nil {
				return err
			}
		}
		return nil
	})
}

func testLoadsProgram(t *testing.T, load func() error) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ = filepath.EvalSymlinks(exe)
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	ranges, err := programRanges(maps, exe)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ranges {
		// Clean file pages: they fault back in from the page cache.
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_DONTNEED); e != 0 {
			t.Fatalf("madvise %#x-%#x: %v", r[0], r[1], e)
		}
	}
	if size, res := programResident(t, exe); res > size*90/100 {
		t.Fatalf("%s: %d of %d kB resident after dropping them: the test cannot tell", exe, res, size)
	}
	if err := load(); err != nil {
		t.Fatal(err)
	}
	if size, res := programResident(t, exe); size == 0 || res < size*95/100 {
		t.Errorf("%s: %d of %d kB of read-only mappings resident after loading", exe, res, size)
	}
}

// programResident sums the sizes and resident sizes, in kB, of the
// read-only mappings of exe in /proc/self/smaps.
func programResident(t *testing.T, exe string) (size, res int64) {
	t.Helper()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	in := false
	for _, l := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && strings.Contains(f[0], "-") {
			in = len(f) >= 6 && strings.Join(f[5:], " ") == exe && !strings.Contains(f[1], "w")
			continue
		}
		if !in || len(f) != 3 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Size:":
			size += n
		case "Rss:":
			res += n
		}
	}
	return size, res
}
