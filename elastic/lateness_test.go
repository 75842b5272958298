package elastic

import (
	"testing"
	"time"
)

// TestLatenessMargin: late requests over lateHigh of the window raise the
// margin, a calm run gives it back, an occasional late one at the 1%
// that the slacks aim at does not keep it up, and a request is never
// planned for less than its fastest plan needs.
func TestLatenessMargin(t *testing.T) {
	var l lateness
	for i := range 300 {
		l.observe(i%10 == 0) // 10% late
	}
	if l.margin < 0.1 {
		t.Errorf("10%% of requests late for 300 requests: margin %.3f, want it raised", l.margin)
	}
	raised := l.margin
	for range 2000 {
		l.observe(false)
	}
	if l.margin != 0 {
		t.Errorf("after 2000 on-time requests the margin is %.3f (was %.3f), want 0", l.margin, raised)
	}
	for i := range 1000 {
		l.observe(i%100 == 50) // 1% late, as the slacks aim at
	}
	if l.margin > 2*marginStep {
		t.Errorf("1%% of requests late: margin %.3f, want about none", l.margin)
	}
	l.margin = 0.2
	const target = 10 * time.Millisecond
	for _, c := range []struct{ left, floor, want time.Duration }{
		{9 * time.Millisecond, time.Millisecond, 7 * time.Millisecond},
		{9 * time.Millisecond, 8 * time.Millisecond, 8 * time.Millisecond},
		{5 * time.Millisecond, 6 * time.Millisecond, 5 * time.Millisecond}, // infeasible already: left as is
	} {
		if got := l.shorten(c.left, target, c.floor); got != c.want {
			t.Errorf("shorten(%v left, floor %v) with margin 0.2 of %v = %v, want %v", c.left, c.floor, target, got, c.want)
		}
	}
}
