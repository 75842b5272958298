package elastic

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/internal/storetest"
)

// observeParts feeds r one request whose IO and compute were measured at
// io and c times what its plan (made with scale) predicted, for a plan
// predicting ioPred of IO and cPred of compute. The parts overlap fully:
// the request takes as long as the longer one, and the profile alone
// (without scale) predicted the longer of the unscaled parts.
func observeParts(r *Runner, io, c float64, ioPred, cPred time.Duration, scale plan.Scale) {
	unscaled := func(d time.Duration, s float64) time.Duration {
		if s == 0 {
			return d
		}
		return time.Duration(float64(d) / s)
	}
	p := &plan.Plan{PredictedLatency: max(ioPred, cPred), PredictedIO: ioPred, PredictedCompute: cPred, Scale: scale,
		ProfiledLatency: max(unscaled(ioPred, scale.IO), unscaled(cPred, scale.Compute))}
	st := pipeline.RunStats{IOTime: time.Duration(io * float64(ioPred)), ComputeTime: time.Duration(c * float64(cPred))}
	st.Latency = max(st.IOTime, st.ComputeTime)
	r.observe(st, p)
}

func TestRunnerSlackIsHighPercentileOfRatios(t *testing.T) {
	r := &Runner{slack: 1}
	for i := range 100 {
		// IO ratios 0.5, 0.51, …, 1.49; compute as profiled.
		observeParts(r, 0.5+0.01*float64(i), 1, time.Millisecond, time.Millisecond, plan.Scale{})
	}
	// The 99th percentile of 100 ratios is the 99th smallest: 1.48.
	if got := r.Slacks(); math.Abs(got.IO-1.48) > 1e-9 || got.Compute != 1 {
		t.Errorf("slacks = %+v, want IO 1.48, compute 1", got)
	}
	if got := r.Slack(); math.Abs(got-1.48) > 1e-9 {
		t.Errorf("slack = %v, want the larger slack, 1.48", got)
	}
	// The window keeps the last 100: after 100 ratios of 0.9 the slack is
	// 1 (0.9 is not below the median by slackDrop: no level shift).
	for range 100 {
		observeParts(r, 0.9, 0.9, time.Millisecond, time.Millisecond, plan.Scale{})
	}
	if got := r.Slacks(); got.IO != 1 || got.Compute != 1 {
		t.Errorf("after the window moved past the slow requests: slacks = %+v, want 1", got)
	}
	fast := &Runner{slack: 1}
	for range 10 {
		observeParts(fast, 0.5, 0.5, time.Millisecond, time.Millisecond, plan.Scale{})
	}
	if got := fast.Slacks(); got.IO != 1 || got.Compute != 1 || fast.Slack() != 1 {
		t.Errorf("a device faster than its profile: slacks = %+v, want 1 (never plan past the target)", got)
	}
}

// TestSlackTracksIOAndComputeApart: a slower disk raises the IO slack
// only, busier cores the compute slack only.
func TestSlackTracksIOAndComputeApart(t *testing.T) {
	r := &Runner{slack: 1}
	for range 20 {
		observeParts(r, 2, 1, 8*time.Millisecond, 2*time.Millisecond, plan.Scale{})
	}
	if got := r.Slacks(); got.IO != 2 || got.Compute != 1 {
		t.Errorf("a disk at half speed: slacks %+v, want IO 2, compute 1", got)
	}
	// Cores at a third of their speed under plans that compute more than
	// they read: the requests take three times their profile.
	for range 20 {
		observeParts(r, 2, 3, 2*time.Millisecond, 8*time.Millisecond, plan.Scale{})
	}
	if got := r.Slacks(); got.IO != 2 || got.Compute != 3 || r.Slack() != 3 {
		t.Errorf("then cores at a third too: slacks %+v (slack %v), want IO 2, compute 3", got, r.Slack())
	}
	for range 20 {
		observeParts(r, 2, 1, 8*time.Millisecond, 2*time.Millisecond, plan.Scale{})
	}
	// A burst of under half the window is not a level shift (the median
	// did not move): it leaves the window with its age.
	if got := r.Slacks(); got.IO != 2 || got.Compute != 3 {
		t.Errorf("then the cores free again: slacks %+v, want IO 2, compute 3 (the burst is in the window)", got)
	}
	// A plan made with a scale predicts stretched times: the ratio is to
	// the profile. Measured as predicted at IO scale 2 is an IO slack of 2.
	s := &Runner{slack: 1}
	observeParts(s, 1, 1, 8*time.Millisecond, 2*time.Millisecond, plan.Scale{IO: 2})
	if got := s.Slacks(); got.IO != 2 || got.Compute != 1 {
		t.Errorf("measured as predicted at IO scale 2: slacks %+v, want IO 2", got)
	}
	// A part under slackMinShare of the latency is not measured: a plan
	// of resident shards reads next to nothing, and a tenfold ratio on it
	// says nothing about the device.
	n := &Runner{slack: 1}
	observeParts(n, 10, 1, 100*time.Microsecond, 10*time.Millisecond, plan.Scale{})
	if got := n.Slacks(); got.IO != 1 {
		t.Errorf("an IO of 1%% of the latency measured 10× slower: IO slack %v, want 1 (ignored)", got.IO)
	}
	// A part slower than profiled but hidden behind the other one does
	// not slow the requests, and is not planned for beyond what they
	// measure: IO three times slower under compute four times longer.
	h := &Runner{slack: 1}
	for range 20 {
		observeParts(h, 3, 1, 2*time.Millisecond, 8*time.Millisecond, plan.Scale{})
	}
	if got := h.Slacks(); got.IO != 1 || h.Slack() != 1 {
		t.Errorf("IO 3× slower, hidden behind compute: slacks %+v (slack %v), want 1: the requests ran as profiled", got, h.Slack())
	}
	// Once it is not hidden, it is: the same IO slowdown with as much IO
	// as compute.
	for range 20 {
		observeParts(h, 3, 1, 8*time.Millisecond, 8*time.Millisecond, plan.Scale{})
	}
	if got := h.Slacks(); got.IO != 3 {
		t.Errorf("IO 3× slower, no longer hidden: IO slack %v, want 3", got.IO)
	}
}

// TestSlackFollowsLevelShifts: after a sudden slowdown the slack covers it
// within slackRecovery requests; when the device is fast again, it drops
// after slackShiftRun requests instead of a whole window.
func TestSlackFollowsLevelShifts(t *testing.T) {
	r := &Runner{slack: 1}
	for i := range slackWindow {
		observeParts(r, 1+0.001*float64(i%10), 1, 10*time.Millisecond, time.Millisecond, plan.Scale{})
	}
	before := r.Slacks().IO
	var n int
	for n = 1; n <= slackWindow; n++ {
		observeParts(r, 2, 1, 10*time.Millisecond, time.Millisecond, plan.Scale{})
		if r.Slacks().IO >= 2 {
			break
		}
	}
	if n > slackRecovery {
		t.Errorf("IO twice as slow: the slack reached 2 after %d requests, want at most %d (it was %v)", n, slackRecovery, before)
	}
	for range slackWindow {
		observeParts(r, 2, 1, 10*time.Millisecond, time.Millisecond, plan.Scale{})
	}
	for n = 1; n <= slackWindow; n++ {
		observeParts(r, 1, 1, 10*time.Millisecond, time.Millisecond, plan.Scale{})
		if r.Slacks().IO < 1.5 {
			break
		}
	}
	if n != slackShiftRun {
		t.Errorf("IO back to its profile: the slack came down after %d requests, want %d", n, slackShiftRun)
	}
	if got := r.Slacks().IO; got != 1 {
		t.Errorf("IO slack %v after the shift, want 1", got)
	}
}

// TestSlackIgnoresOneOutlier: a window not yet full takes its second
// largest ratio, as a full one does, so one cold or unlucky request does
// not set the slack; two do.
func TestSlackIgnoresOneOutlier(t *testing.T) {
	r := &Runner{slack: 1}
	for _, x := range []float64{4, 1.1, 1, 1.2} {
		observeParts(r, x, 1, 10*time.Millisecond, time.Millisecond, plan.Scale{})
	}
	if got := r.Slacks().IO; got != 1.2 {
		t.Errorf("IO slack %v after one ratio of 4 among 1.0–1.2, want 1.2", got)
	}
	observeParts(r, 3, 1, 10*time.Millisecond, time.Millisecond, plan.Scale{})
	if got := r.Slacks().IO; got != 3 {
		t.Errorf("IO slack %v after a second outlier of 3, want 3", got)
	}
}

// TestSlackObserveAllocatesNothing: every request updates the slacks, so
// a full window's quantiles are taken without a new copy of it, and a
// level shift reuses the window too.
func TestSlackObserveAllocatesNothing(t *testing.T) {
	var s slackEstimator
	i := 0
	next := func() float64 {
		i++
		if i/(3*slackWindow)%2 == 1 {
			return 1 + float64(i%7)/10 // a faster level: the window shifts
		}
		return 3 + float64(i%13)/10
	}
	for range 2 * slackWindow {
		s.observe(next())
	}
	if a := testing.AllocsPerRun(4*slackWindow, func() { s.observe(next()) }); a != 0 {
		t.Errorf("observe allocates %.2f times", a)
	}
	if i < 6*slackWindow {
		t.Fatalf("%d observations cover no level shift", i)
	}
}

// TestRunnerProbesPastAStaleSlack: a slack measured during a slowdown that
// has passed refuses requests the profile admits; after slackProbe of them
// the runner runs one at the profile, which runs fast on this (unslowed)
// store, resets the slacks and admits the requests after it.
func TestRunnerProbesPastAStaleSlack(t *testing.T) {
	r, floor := probedRunner(t)
	// A target the profile meets with room to spare, and a slack that
	// makes even the fastest plan miss it.
	target := 3 * floor
	for range 3 {
		observeParts(r, maxSlack, maxSlack, time.Millisecond, time.Millisecond, plan.Scale{})
	}
	probe := requestsUntilProbe(t, r, target)
	if probe.Plan.Scale != (plan.Scale{}) {
		t.Errorf("the probe was planned at scale %+v, want the profile's", probe.Plan.Scale)
	}
	if sc := r.Slacks(); sc.IO >= maxSlack || sc.Compute >= maxSlack {
		t.Errorf("slacks %+v after a fast probe: not reset", sc)
	}
}

// TestRunnerAdmitsPastTwoOutliers: two outliers among a window of
// requests at their profile set the slacks (the second largest ratio),
// so the fastest plan misses a target the profile meets three times over;
// the typical slacks (slackTypical) admit the request at once, without
// slackProbe refusals first, and it is planned at them.
func TestRunnerAdmitsPastTwoOutliers(t *testing.T) {
	r, floor := probedRunner(t)
	target := 3 * floor
	for range slackWindow - 2 {
		observeParts(r, 1, 1, time.Millisecond, time.Millisecond, plan.Scale{})
	}
	for range 2 {
		observeParts(r, maxSlack, maxSlack, time.Millisecond, time.Millisecond, plan.Scale{})
	}
	if sc := r.Slacks(); sc.IO != maxSlack || sc.Compute != maxSlack {
		t.Fatalf("slacks %+v after two outliers of %v: want them set", sc, maxSlack)
	}
	_, info, err := r.RunTarget(context.Background(), time.Time{}, target, testIDs, nil)
	if err != nil {
		t.Fatalf("refused with slacks %+v and typical slacks %+v: %v", r.Slacks(), r.typicalSlacks(), err)
	}
	if sc := info.Plan.Scale; sc.IO >= maxSlack || sc.Compute >= maxSlack {
		t.Errorf("planned at scale %+v, want the typical slacks", sc)
	}
}

// TestRunnerProbesPastAStalePlanningReserve: two slow plannings in a row
// (a cold start, a collection) reserve more than the target from every
// request, and a refused request plans nothing that could replace them.
// After slackProbe refusals a probe runs, and its planning time replaces
// the stale ones.
func TestRunnerProbesPastAStalePlanningReserve(t *testing.T) {
	r, floor := probedRunner(t)
	target := 3*floor + 5*time.Millisecond // room for planning on a loaded machine
	r.observePlanning(2*target, false)
	r.observePlanning(2*target, false)
	requestsUntilProbe(t, r, target)
	if res := r.planningReserve(); res >= target {
		t.Errorf("planning reserve %v after the probe: the stale times were kept", res)
	}
}

// probedRunner opens a runner without calibration over a synthetic
// store and returns it with the fastest plan's time for testIDs at the
// profile.
func probedRunner(t *testing.T) (*Runner, time.Duration) {
	t.Helper()
	_, s, _ := storetest.SynthFixture(t, "fixtures/tiny-bert", 2, 4, 8, 32)
	be, err := backend.Get("native")
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRunner(context.Background(), s, be, RunnerOptions{Target: time.Second, MaxSeqLen: 32, Profiles: handProfiles(t, s), Calibration: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	req := plan.Request{Budget: r.budget, SeqLen: len(testIDs), Preload: r.preload, CachedRows: r.exec.CachedRows(testIDs)}
	floor, err := plan.MinTargetFor(r.planner, req)
	if err != nil {
		t.Fatal(err)
	}
	return r, floor
}

// requestsUntilProbe serves testIDs at target slackProbe+3 times and
// checks that the first slackProbe are refused and the rest admitted, the
// first of them as the probe, whose RunInfo it returns.
func requestsUntilProbe(t *testing.T, r *Runner, target time.Duration) RunInfo {
	t.Helper()
	var probe RunInfo
	refused := 0
	for i := range slackProbe + 3 {
		_, info, err := r.RunTarget(context.Background(), time.Time{}, target, testIDs, nil)
		switch {
		case errors.Is(err, plan.ErrDeadline):
			refused++
			if i >= slackProbe {
				t.Fatalf("request %d refused after %d refusals (slacks %+v, planning reserve %v): no probe", i, refused, r.Slacks(), r.planningReserve())
			}
		case err != nil:
			t.Fatal(err)
		case i < slackProbe:
			t.Fatalf("request %d admitted with slacks %+v and %v reserved for planning", i, r.Slacks(), r.planningReserve())
		case i == slackProbe:
			probe = info
		}
	}
	if refused != slackProbe {
		t.Errorf("%d requests refused, want %d before the probe", refused, slackProbe)
	}
	return probe
}

// TestPlanningReserveIgnoresOneOutlier: the reserve is the second longest
// recent planning time.
func TestPlanningReserveIgnoresOneOutlier(t *testing.T) {
	var r Runner
	if got := r.planningReserve(); got != 0 {
		t.Errorf("no planning yet: reserve %v", got)
	}
	r.observePlanning(3*time.Millisecond, false)
	if got := r.planningReserve(); got != 3*time.Millisecond {
		t.Errorf("one planning time of 3ms: reserve %v", got)
	}
	for _, d := range []time.Duration{100, 5000, 200, 150} {
		r.observePlanning(d*time.Microsecond, false)
	}
	if got := r.planningReserve(); got != 3*time.Millisecond {
		t.Errorf("3ms, 0.1, 5, 0.2, 0.15 ms: reserve %v, want the second longest, 3ms", got)
	}
	r.observePlanning(time.Millisecond, true)
	if got := r.planningReserve(); got != time.Millisecond {
		t.Errorf("after a probe planned in 1ms: reserve %v", got)
	}
}
