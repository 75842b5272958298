package shared

import (
	"fmt"
	"testing"
)

// fakeTB records what Path does to a test instead of doing it.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	panic(f)
}

func (f *fakeTB) Skip(args ...any) {
	f.skip = fmt.Sprint(args...)
	panic(f)
}

// path calls Path, catching the panic that stands in for Fatalf and
// Skip ending the test.
func path(tb *fakeTB, elem ...string) (p string) {
	defer func() {
		if r := recover(); r != nil && r != tb {
			panic(r)
		}
	}()
	return Path(tb, elem...)
}

// TestPathSkipsOrFails checks that a missing shared directory, or a
// missing path in it, skips a test locally and fails it under CI=true,
// so that CI cannot pass by skipping.
func TestPathSkipsOrFails(t *testing.T) {
	for _, tc := range []struct {
		name, shared string
		elem         []string
	}{
		{"no shared directory", "/nonexistent/shared", []string{"fixtures"}},
		{"no such fixture", t.TempDir(), []string{"fixtures", "renamed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WRX_SHARED", tc.shared)
			t.Setenv("CI", "")
			tb := &fakeTB{}
			path(tb, tc.elem...)
			if tb.skip == "" || tb.fatal != "" {
				t.Errorf("without CI: skip %q, fatal %q; want a skip", tb.skip, tb.fatal)
			}
			t.Setenv("CI", "true")
			tb = &fakeTB{}
			path(tb, tc.elem...)
			if tb.fatal == "" || tb.skip != "" {
				t.Errorf("CI=true: skip %q, fatal %q; want a failure", tb.skip, tb.fatal)
			}
			t.Logf("CI=true: %s", tb.fatal)
		})
	}
}
