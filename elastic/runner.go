package elastic

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/stats"
	"github.com/wrxlabs/wrx/shardstore"
)

// RunnerOptions configures NewRunner.
type RunnerOptions struct {
	// Target is the latency target and Budget the preload budget (bytes).
	Target time.Duration
	Budget int64
	// Profiles feed the planner; Planner options choose its strategy.
	Profiles *plan.Profiles
	Planner  plan.Options
	// Calibration is how many warm-up requests of random tokens the runner
	// runs before serving, to measure how this device compares with its
	// profile right now (see Runner.Slack); 0 means DefaultCalibration,
	// a negative value none.
	Calibration int
}

// DefaultCalibration is the number of warm-up requests NewRunner runs.
const DefaultCalibration = 16

// shortestRequest is the token count NewRunner checks a target against:
// [CLS], a word or two, [SEP].
const shortestRequest = 4

// Runner serves tokenized requests with the elastic pipeline: it plans
// every request for its length under the target and budget, and streams
// the planned shard versions around a resident preload set. A Runner is
// safe for concurrent use.
type Runner struct {
	exec    *pipeline.Executor
	planner plan.Planner
	target  time.Duration
	budget  int64
	preload *plan.Preload

	mu     sync.Mutex
	slack  float64   // target divisor, ≥ 1
	ratios []float64 // measured/predicted latency of recent requests
	next   int
}

// Slack adaptation: the timing model is calibrated on a quiet machine, and
// a request can run slower than predicted (other load, timer slack, cache
// misses). The runner keeps the ratios of measured to predicted latency of
// its last slackWindow requests and plans each request for Target divided
// by their nearest-rank 99th percentile (stats.Quantile; never below 1),
// so that at least 95% keep their deadline when the device is slower than
// profiled. This is the "re-plan when the device drifts" loop: it costs
// accuracy only while the device is slower than its profile.
const (
	slackWindow = 100
	// slackPercentile: the 98th left 5–6% of requests late at some
	// targets, since the ratios drift between requests.
	slackPercentile = 99
	maxSlack        = 8.0
)

// Slack returns the factor the runner currently divides its target by.
func (r *Runner) Slack() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.slack
}

func (r *Runner) observe(measured, predicted time.Duration) {
	if predicted <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ratios) < slackWindow {
		r.ratios = append(r.ratios, 0)
	}
	r.ratios[r.next%slackWindow] = float64(measured) / float64(predicted)
	r.next++
	p := stats.Quantile(r.ratios, slackPercentile/100.0)
	r.slack = min(max(p, 1), maxSlack)
}

// RunInfo describes one request: the executor's statistics and the plan
// it ran.
type RunInfo struct {
	pipeline.RunStats
	Plan *plan.Plan `json:"plan,omitempty"`
	// Fallback is set when no plan met the target for this request and
	// the fastest plan within the budget ran instead.
	Fallback bool `json:"fallback,omitempty"`
}

// NewRunner prepares the elastic pipeline over store: the planner, its
// preload set, resident, and a calibration of the device's slack.
func NewRunner(ctx context.Context, store *shardstore.Store, be backend.Backend, opts RunnerOptions) (*Runner, error) {
	r := &Runner{target: opts.Target, budget: opts.Budget, slack: 1}
	ex, err := pipeline.NewExecutor(ctx, store, be, pipeline.ExecOptions{
		InFlight:     opts.Planner.InFlight,
		PreloadLimit: max(opts.Budget, 1), // a zero budget preloads nothing
	})
	if err != nil {
		return nil, err
	}
	r.exec = ex
	if opts.Profiles == nil {
		return nil, fmt.Errorf("elastic: the runner needs importance and device profiles (see package profile): %w", profile.ErrNoProfile)
	}
	if t, ok := be.(backend.Threaded); ok && opts.Profiles.Device != nil && opts.Profiles.Device.Threads > 0 && t.Threads() != opts.Profiles.Device.Threads {
		return nil, fmt.Errorf("elastic: the device profile was measured with %d compute threads, the backend has %d: its timings would not hold (profile the device again, or use %d threads)",
			opts.Profiles.Device.Threads, t.Threads(), opts.Profiles.Device.Threads)
	}
	pl, err := plan.New(opts.Profiles, opts.Planner)
	if err != nil {
		return nil, err
	}
	pre, err := pl.Preload(opts.Target, opts.Budget)
	if err != nil {
		return nil, err
	}
	// A target that not even the shortest requests can meet is refused
	// here, with the minimum, rather than on every request.
	if _, err := pl.Plan(plan.Request{Target: opts.Target, Budget: opts.Budget, SeqLen: shortestRequest, Preload: pre}); err != nil {
		return nil, err
	}
	if err := ex.SetRows(ctx, pre.Rows); err != nil {
		return nil, err
	}
	if err := ex.SetPreload(ctx, pipeline.PreloadKeys(pre)); err != nil {
		return nil, err
	}
	r.planner, r.preload = pl, pre
	if err := r.calibrate(ctx, opts.Calibration); err != nil {
		return nil, err
	}
	return r, nil
}

// calibrate runs n requests of random tokens at typical lengths, so that
// the slack window holds measurements before the first real request.
func (r *Runner) calibrate(ctx context.Context, n int) error {
	if n == 0 {
		n = DefaultCalibration
	}
	cfg := r.exec.Config()
	lengths := []int{8, 16, 24, 32, 48}
	for i := range max(n, 0) {
		ids := make([]int, min(lengths[i%len(lengths)], cfg.MaxPosition))
		for j := range ids {
			ids[j] = 1000 + (i*7919+j*104729)%(cfg.VocabSize-1000)
		}
		if _, _, err := r.Run(ctx, ids, nil); err != nil {
			return fmt.Errorf("elastic: calibration request %d: %w", i, err)
		}
	}
	return nil
}

// Executor returns the runner's executor.
func (r *Runner) Executor() *pipeline.Executor { return r.exec }

// ResidentBytes is the memory of the parts every request needs.
func (r *Runner) ResidentBytes() int64 { return r.exec.ResidentBytes() }

// PreloadBytes is the memory of the preload buffer.
func (r *Runner) PreloadBytes() int64 { return r.exec.PreloadBytes() }

// Preload returns the resident set.
func (r *Runner) Preload() *plan.Preload { return r.preload }

// Run serves one tokenized request.
func (r *Runner) Run(ctx context.Context, ids, typeIDs []int) ([]float32, RunInfo, error) {
	return r.RunTarget(ctx, 0, ids, typeIDs)
}

// RunTarget serves one tokenized request planned for target instead of
// the runner's target, around the same preload set; 0 means the runner's
// target. A target tighter than the runner's trades accuracy for latency.
func (r *Runner) RunTarget(ctx context.Context, target time.Duration, ids, typeIDs []int) ([]float32, RunInfo, error) {
	var info RunInfo
	if target < 0 {
		return nil, info, fmt.Errorf("elastic: negative target %v", target)
	}
	if target == 0 {
		target = r.target
	}
	target = time.Duration(float64(target) / r.Slack())
	req := plan.Request{Target: target, Budget: r.budget, SeqLen: len(ids), Preload: r.preload, CachedRows: r.exec.CachedRows(ids)}
	p, err := r.planner.Plan(req)
	var inf *plan.InfeasibleError
	if errors.As(err, &inf) && inf.MinTarget > 0 {
		// Longer than the target allows: run the fastest plan rather
		// than nothing; the caller sees the predicted miss.
		req.Target = inf.MinTarget
		p, err = r.planner.Plan(req)
		info.Fallback = true
	}
	if err != nil {
		return nil, info, err
	}
	info.Plan = p
	logits, st, err := r.exec.Run(ctx, p, ids, typeIDs)
	info.RunStats = st
	if err == nil {
		r.observe(st.Latency, p.PredictedLatency)
	}
	return logits, info, err
}
