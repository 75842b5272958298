package elastic

import (
	"math"
	"slices"
	"time"

	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/internal/stats"
)

// Slack adaptation: the timing model is calibrated on a quiet machine, and
// a request can run slower than predicted: another reader shares the
// storage device, other load shares the cores, timers fire late, caches
// miss. A slower device and busier cores call for different plans (fewer
// bytes to read, or fewer shards to compute), so the runner tracks two
// slacks: the IO slack, by which it stretches every read time of the
// device profile, and the compute slack, by which it stretches every
// compute time (plan.Request.Scale).
//
// After each request it compares what the executor measured
// (pipeline.RunStats.IOTime and ComputeTime) with what the profile
// predicts for the plan it ran (plan.Plan.PredictedIO and
// PredictedCompute, unstretched). Each slack is the nearest-rank 99th
// percentile (stats.Quantile) of its last slackWindow ratios, never below
// 1 nor above maxSlack, so that at least 95% of requests keep their
// deadline when the device is slower than profiled; it costs accuracy only
// while it is. This is the "re-plan when the device drifts" loop:
//
//   - a device that gets slower is picked up within two requests: the
//     99th percentile of a full window of 100 ratios is the second
//     largest (and a window not yet full takes its second largest too),
//     so the second slow request sets the slack, and a single outlier
//     does not (slackRecovery states the bound);
//   - a device that gets faster again would keep the slack high for a
//     whole window. So when the last slackShiftRun ratios were all below
//     the window's median by a factor slackDrop — a level shift, not the
//     tail of one distribution — the window forgets the older ratios and
//     the slack follows the new level at once.
//
// Two outliers (a collection, a preempted thread) set the slack as a
// slowdown does, and keep it for a whole window: in wrx-bench at 7.1 ms
// with 8 MB, two requests of 1.4–2.5 times their prediction stretched the
// next hundred plans by up to 2.5, and 12 of the 30–54-token requests in
// those phases were refused, where quantized-hold@4 answered 9 of them
// correctly in 3.5–6.5 ms. So each estimator also keeps the typical slack,
// the slackTypical percentile of the same window (its eleventh largest),
// which outliers do not move. A request that the slacks would refuse is
// admitted when the typical slacks admit it, and planned at them
// (Runner.run): it may run late, and a refused one would be a miss too.
//
// A part that the plan hardly uses tells little: a ratio is taken only
// when its prediction is at least slackMinShare of the plan's latency (a
// plan of resident shards reads nothing, and its measured IO is noise).
const (
	slackWindow = 100
	// slackPercentile: the 98th left 5–6% of requests late at some
	// targets, since the ratios drift between requests.
	slackPercentile = 99
	// slackTypical is the percentile of the typical slack, which
	// admits the requests the slack alone would refuse.
	slackTypical = 90
	maxSlack     = 8.0
	// slackShiftRun and slackDrop detect a device that got faster.
	slackShiftRun = 10
	slackDrop     = 1.25
	// slackMinShare is the least share of a plan's predicted latency a
	// part must have for the request to measure its slack.
	slackMinShare = 0.05
	// slackRecovery is how many slow requests after a sudden slowdown
	// the slack takes to reach the new level (see above): the requests
	// until then were planned for the faster device and are late when
	// their plans were tight. The slack is then the smaller of those
	// ratios, not yet the new level's 99th percentile, so a few more may
	// be late while the window fills with the new level's spread.
	slackRecovery = 2
)

// slackEstimator tracks one slack: measured over profiled time.
type slackEstimator struct {
	ratios []float64 // the last slackWindow ratios, a ring from next
	next   int
	below  int     // consecutive ratios below the window's median / slackDrop
	value  float64 // the slack; 0 before the first ratio (meaning 1)
	// typical is the slackTypical percentile of the window, clamped as
	// value is; 0 before the first ratio (meaning 1).
	typical float64
	// sorted is kept for the next observation: the quantiles of every
	// request are taken in it, sorted, instead of in a new sorted copy
	// of the ring. The runner's mutex guards it with the rest.
	sorted []float64
}

// quantile returns the nearest-rank q-quantile of the window.
func (s *slackEstimator) quantile(q float64) float64 {
	s.sorted = append(s.sorted[:0], s.ratios...)
	slices.Sort(s.sorted)
	return stats.Quantile(s.sorted, q) // sorted: used as is, not copied
}

// get returns the slack, 1 before any ratio.
func (s *slackEstimator) get() float64 {
	if s.value == 0 {
		return 1
	}
	return s.value
}

// getTypical returns the typical slack, 1 before any ratio.
func (s *slackEstimator) getTypical() float64 {
	if s.typical == 0 {
		return 1
	}
	return s.typical
}

// observe adds one ratio of measured to profiled time; it ignores a ratio
// that is not a positive finite number.
func (s *slackEstimator) observe(x float64) {
	if !(x > 0) || math.IsInf(x, 0) {
		return
	}
	if len(s.ratios) < slackWindow {
		s.ratios = append(s.ratios, 0)
	}
	s.ratios[s.next%slackWindow] = x
	s.next++
	if x*slackDrop < s.quantile(0.5) {
		s.below++
	} else {
		s.below = 0
	}
	if s.below >= slackShiftRun && len(s.ratios) > slackShiftRun {
		// The device got faster and stayed so: keep only the new level.
		recent := s.sorted[:0] // free until the next quantile
		for i := s.next - slackShiftRun; i < s.next; i++ {
			recent = append(recent, s.ratios[i%len(s.ratios)])
		}
		s.ratios = append(s.ratios[:0], recent...)
		s.next, s.below = len(s.ratios), 0
	}
	// The 99th percentile of a full window is its second largest ratio;
	// a window not yet full takes its second largest too (not its
	// largest, which nearest rank would give), so that one outlier, such
	// as a cold first request, is no more than noise there either.
	q := slackPercentile / 100.0
	if n := float64(len(s.ratios)); n >= 2 {
		q = min(q, (n-1)/n)
	}
	s.value = min(max(s.quantile(q), 1), maxSlack)
	s.typical = min(max(stats.Quantile(s.sorted, slackTypical/100.0), 1), s.value)
}

// Slack returns how much slower than its profile the runner measures
// whole requests to be (the cap of Slacks).
func (r *Runner) Slack() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.slack
}

// Slacks returns the runner's IO and compute slacks, the factors it
// stretches the device profile's read and compute times by when it plans
// (each ≥ 1).
func (r *Runner) Slacks() plan.Scale {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.scaleLocked()
}

// scaleLocked is the scale requests are planned with: each part's slack,
// made of ratios capped by the whole request's (capPart). IO and compute
// overlap, so a part can run slower than profiled without the request
// doing so: measured on wrx-sst2-small with one compute thread, the IO
// goroutine's reads took 1.5–3.3 times their profile while whole requests
// took 1.0–1.1 times theirs, and planning for the raw parts refused most
// requests at the smallest targets. Capping the slack itself by the whole
// request's (what docs/results.md ran with) under-planned IO-bound
// requests after a slowdown, whose compute did not slow
// (TestRunnerFollowsDrift under -race); a per-request cap does neither.
func (r *Runner) scaleLocked() plan.Scale {
	return plan.Scale{IO: r.drift.io.get(), Compute: r.drift.compute.get()}
}

// typicalSlacks returns the typical slacks (slackTypical).
func (r *Runner) typicalSlacks() plan.Scale {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.typicalScaleLocked()
}

// typicalScaleLocked is the scale of the typical slacks, which admit a
// request that scaleLocked's would refuse.
func (r *Runner) typicalScaleLocked() plan.Scale {
	return plan.Scale{IO: r.drift.io.getTypical(), Compute: r.drift.compute.getTypical()}
}

// capPart caps a part's ratio x (0: not measured) at what the whole
// request allows: latency − (profiled − part) over part, part being the
// plan's prediction for it without scale.
func capPart(x float64, latency, profiled, predicted time.Duration, scale float64) float64 {
	if x == 0 {
		return 0
	}
	if scale == 0 {
		scale = 1
	}
	part := float64(predicted) / scale
	if part <= 0 {
		return x
	}
	most := (float64(latency) - (float64(profiled) - part)) / part
	return min(x, max(most, 1))
}

// slackProbe is how many requests in a row the runner refuses for its
// slacks, when the profile alone would admit them, before it runs one
// planned at the profile as a probe. A refused request measures nothing,
// so without probes a slack raised by a passing slowdown (or measured
// under load while the classifier opened) would refuse every later
// request for good. A probe that runs slow confirms the slack and is
// late; one that runs at the profile's speed resets the slacks (see
// observeProbe). Over the last slackProbe+1 requests at most one is late
// that way, where all would be refused.
const slackProbe = 8

// observeProbe updates the slacks with a probe's measurements: when the
// request ran within the slack's level shift (slackDrop) of its profile,
// the device is no longer slow and the slacks restart from it.
func (r *Runner) observeProbe(st pipeline.RunStats, p *plan.Plan) {
	if p != nil && p.ProfiledLatency > 0 {
		ratio := float64(st.Latency) / float64(p.ProfiledLatency)
		r.mu.Lock()
		if s := r.scaleLocked(); ratio*slackDrop < max(r.slack, s.IO, s.Compute) {
			r.drift = drift{}
			r.slack = 1
		}
		r.mu.Unlock()
	}
	r.observe(st, p)
}

// drift is the runner's slack state.
type drift struct {
	io, compute slackEstimator
	// whole tracks the requests' latency over the profile's prediction.
	whole slackEstimator
}

// observe updates the slacks with one request's measurements: st from the
// executor, p the plan it ran.
func (r *Runner) observe(st pipeline.RunStats, p *plan.Plan) {
	if p == nil || p.PredictedLatency <= 0 {
		return
	}
	// The plan's predictions include the scale it was made with; the
	// ratios are to the profile itself.
	ratio := func(measured, predicted time.Duration, scale float64) float64 {
		if float64(predicted) < slackMinShare*float64(p.PredictedLatency) {
			return 0 // ignored
		}
		if scale == 0 {
			scale = 1
		}
		return float64(measured) / float64(predicted) * scale
	}
	io := ratio(st.IOTime, p.PredictedIO, p.Scale.IO)
	c := ratio(st.ComputeTime, p.PredictedCompute, p.Scale.Compute)
	var whole float64
	if p.ProfiledLatency > 0 {
		whole = float64(st.Latency) / float64(p.ProfiledLatency)
		// A part cannot have slowed the request by more than the request
		// itself slowed: with the rest as profiled, it took at most
		// latency − (profiled latency − its profiled time). IO that
		// compute hides can measure slow without delaying anything.
		io = capPart(io, st.Latency, p.ProfiledLatency, p.PredictedIO, p.Scale.IO)
		c = capPart(c, st.Latency, p.ProfiledLatency, p.PredictedCompute, p.Scale.Compute)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drift.io.observe(io)
	r.drift.compute.observe(c)
	r.drift.whole.observe(whole)
	r.slack = r.drift.whole.get()
}
