// Package rss reads the process's resident set size as the operating
// system counts it: memory is shown by measurement, never only by summing
// WRX's own bookkeeping.
package rss

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Current is the process's resident set in bytes (VmRSS), or 0 where the
// system does not say (only Linux's /proc is read).
func Current() int64 { return field("VmRSS") }

// Peak is the process's peak resident set in bytes so far (VmHWM), or 0
// where the system does not say.
func Peak() int64 { return field("VmHWM") }

func field(name string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	v, _ := StatusField(b, name)
	return v
}

// StatusField reads a memory field ("VmHWM", "VmRSS", ...) of a
// /proc/PID/status text, in bytes (the kernel's "kB" are KiB).
func StatusField(status []byte, name string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || key != name {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("status field %s: unexpected value %q", name, rest)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status field %s: %w", name, err)
		}
		return n * 1024, nil
	}
	return 0, errors.New("status field " + name + " not found")
}
