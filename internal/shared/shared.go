// Package shared locates the read-only ../shared directory (models, fixtures
// and GLUE data) that sits beside the repository in development and CI.
package shared

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the shared directory, or "" when it cannot be found. The
// environment variable WRX_SHARED overrides the search; otherwise Dir walks
// up from the working directory looking for a sibling named "shared" that
// holds docs/DESIGN.md.
func Dir() string {
	if d := os.Getenv("WRX_SHARED"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		cand := filepath.Join(d, "shared")
		if _, err := os.Stat(filepath.Join(cand, "docs", "DESIGN.md")); err == nil {
			return cand
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// Path returns filepath.Join(Dir(), elem...), skipping the test with a clear
// message when the shared directory or that path is absent. Under CI
// (the environment variable CI is "true") a missing path fails the test
// instead, so that a broken checkout cannot pass by skipping.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	d := Dir()
	if d == "" {
		missing(tb, "../shared (models, fixtures, GLUE data) not found beside the repository; set WRX_SHARED to point at it")
	}
	p := filepath.Join(append([]string{d}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		missing(tb, fmt.Sprintf("%s not present in the shared directory: %v", filepath.Join(elem...), err))
	}
	return p
}

// missing skips the test, or fails it under CI.
func missing(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI=true and %s", why)
	}
	tb.Skip("skipping: " + why)
}
