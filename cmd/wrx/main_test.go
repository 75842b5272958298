package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain keeps the default stores that --model converts into out of the
// user's cache.
//
// With WRX_TEST_AS_WRX=1 the test binary is the wrx command itself, so
// that tests can run it as real processes.
func TestMain(m *testing.M) {
	if os.Getenv("WRX_TEST_AS_WRX") == "1" {
		os.Args = append([]string{"wrx"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
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
