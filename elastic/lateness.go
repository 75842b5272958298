package elastic

import "time"

// Lateness feedback. The slacks (slack.go) correct the timing model part
// by part, but a whole plan can still run later than its parts predict,
// and right after the slacks fall (a level shift) the planner grows its
// plans back up to the target while the window of ratios is short. In
// wrx-bench at 21 ms with a 2 MB budget, 121 of 872 requests were late
// that way, in bursts after the slacks fell: the plans were predicted at
// 19.7–20.4 ms and ran 20–29 ms (with this feedback: 27 of 872, and
// throttled at 190 ms with 8 MB, 6 of 200 where 85 were late). So the
// runner also watches the outcome it is judged by. It keeps whether each
// of the last lateWindow admitted requests was late, and while more than
// lateHigh of them were, each late one shortens the time every later
// request is planned for by marginStep of the target (up to maxMargin);
// while none is late among the last lateCalm, each on-time one gives back
// marginDecay. A request is still planned for at least the least its plan
// needs, so the margin never refuses one.
const (
	lateWindow  = 100
	lateHigh    = 0.01 // aim well below the 5% the bench allows a qualifying mode
	lateCalm    = 50
	marginStep  = 0.02
	marginDecay = 0.002
	maxMargin   = 0.3
)

// lateness tracks the recent requests' lateness and the planning margin
// it calls for. The runner's mutex guards it.
type lateness struct {
	late   []bool // the last lateWindow outcomes, a ring from next
	next   int
	count  int     // late ones in late
	margin float64 // the share of the target plans give up, in [0, maxMargin]
}

// observe records whether one request was late and updates the margin.
func (l *lateness) observe(late bool) {
	if len(l.late) < lateWindow {
		l.late = append(l.late, false)
	}
	i := l.next % lateWindow
	if l.late[i] {
		l.count--
	}
	l.late[i] = late
	if late {
		l.count++
	}
	l.next++
	switch {
	case late && float64(l.count) > lateHigh*float64(len(l.late)):
		l.margin = min(l.margin+marginStep, maxMargin)
	case !late && l.calm():
		l.margin = max(l.margin-marginDecay, 0)
	}
}

// calm reports whether none of the last lateCalm outcomes was late.
func (l *lateness) calm() bool {
	n := min(lateCalm, len(l.late))
	for k := 1; k <= n; k++ {
		if l.late[(l.next-k)%lateWindow] {
			return false
		}
	}
	return true
}

// shorten returns the time to plan a request for: left, the time left
// before its deadline, less the margin's share of target, but not less
// than floor, the least its fastest plan needs (nor more than left).
func (l *lateness) shorten(left, target, floor time.Duration) time.Duration {
	t := left - time.Duration(l.margin*float64(target))
	return min(max(t, floor), left)
}
