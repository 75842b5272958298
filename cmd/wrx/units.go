package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseBytes reads a size such as "4MB", "512KiB", "1.5GB" or "1048576".
// KB/MB/GB are powers of 1000, KiB/MiB/GiB powers of 1024.
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		scale  float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1e3}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
	}
	scale := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, scale = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.scale
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes such as 4MB, 512KiB or 1048576", s)
	}
	return int64(v * scale), nil
}
