package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain keeps the default stores that --model converts into out of the
// user's cache.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wrx-cli-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("WRX_CACHE_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
