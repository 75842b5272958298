// Package leaktest checks that a test leaves no goroutine behind. It is
// imported by tests only.
package leaktest

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Wait is how long Check waits for goroutines to end. It covers the
// native backend's helper goroutines, which end after two seconds idle.
const Wait = 10 * time.Second

// Check records the goroutines running now and returns a function that
// fails t if, within Wait, goroutines other than those have not ended:
//
//	defer leaktest.Check(t)()
func Check(t testing.TB) func() {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	return func() {
		t.Helper()
		deadline := time.Now().Add(Wait)
		for {
			err := goleak.Find(ignore)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines left running %v after the test: %v", Wait, err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
