package rss

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// LoadProgram makes every read-only page of the running executable (its
// code and constant data) resident, as a program about to measure its
// floor does. Without it, the code a first request runs (the kernels, the
// planner, the executor) is paged in after the floor was measured and is
// counted as the model's memory: 0.9–1.1 MB of wrx-bench's text at every
// budget, measured in /proc/self/smaps. Those pages are the program's, are
// clean and shared with the page cache, and would be the same for a model
// of any size.
func LoadProgram() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("rss: load program: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return fmt.Errorf("rss: load program: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("rss: load program: %w", err)
	}
	ranges, err := programRanges(maps, exe)
	if err != nil {
		return fmt.Errorf("rss: load program %s: %w", exe, err)
	}
	for _, r := range ranges {
		_, _, e := unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_POPULATE_READ)
		if e == unix.EINVAL { // before Linux 5.14
			err = readThroughMem(r)
		} else if e != 0 {
			err = e
		}
		if err != nil {
			return fmt.Errorf("rss: load program %s: %#x-%#x: %w", exe, r[0], r[1], err)
		}
	}
	return nil
}

// readThroughMem reads the range r of this process's memory through
// /proc/self/mem, which faults its pages in as a read of them would.
func readThroughMem(r [2]uintptr) error {
	f, err := os.Open("/proc/self/mem")
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for off := r[0]; off < r[1]; off += uintptr(len(buf)) {
		n := min(uintptr(len(buf)), r[1]-off)
		if _, err := f.ReadAt(buf[:n], int64(off)); err != nil {
			return fmt.Errorf("read /proc/self/mem: %w", err)
		}
	}
	return nil
}

// programRanges returns the address ranges of a /proc/PID/maps text that
// map path without write permission.
func programRanges(maps []byte, path string) ([][2]uintptr, error) {
	var out [][2]uintptr
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || strings.Join(f[5:], " ") != path || strings.Contains(f[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			return nil, fmt.Errorf("maps line %q: no address range", sc.Text())
		}
		a, err := strconv.ParseUint(lo, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("maps line %q: %w", sc.Text(), err)
		}
		b, err := strconv.ParseUint(hi, 16, 64)
		if err != nil || b < a {
			return nil, fmt.Errorf("maps line %q: bad address range", sc.Text())
		}
		out = append(out, [2]uintptr{uintptr(a), uintptr(b)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no read-only mapping of the executable")
	}
	return out, sc.Err()
}
