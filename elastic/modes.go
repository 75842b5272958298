package elastic

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// Mode is a way of serving requests from a shard store: WRX's planned
// elastic pipeline, or one of the paper's baselines. All of them run on the
// same Executor; they differ in schedule, preload and buffering.
type Mode string

// The modes.
const (
	// ModeWRX plans every request (target, budget, sequence length) and
	// streams the planned shard versions, with the planner's preload set
	// resident between requests.
	ModeWRX Mode = "wrx"
	// ModeHoldInMemory keeps the whole model resident at one fidelity,
	// word embedding table included: no IO per request, the most memory.
	// At 32 bits its layers run fused (bert.Model.Fuse), the fastest way
	// this library computes a layer, so the baseline is not handicapped.
	ModeHoldInMemory Mode = "hold-in-memory"
	// ModeLoadThenExec reads the whole model at one fidelity, then
	// computes, for every request.
	ModeLoadThenExec Mode = "load-then-exec"
	// ModeLayerwise streams the whole model at one fidelity, reading layer
	// k+1 while layer k computes (the paper's standard pipelining).
	ModeLayerwise Mode = "layerwise-pipeline"
)

// Modes lists every mode.
func Modes() []Mode {
	return []Mode{ModeWRX, ModeHoldInMemory, ModeLoadThenExec, ModeLayerwise}
}

// ParseMode returns the mode named s.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes() {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("elastic: unknown mode %q (want one of %v)", s, Modes())
}

// RunnerOptions configures NewRunner.
type RunnerOptions struct {
	// Mode is how requests are served; empty means ModeWRX.
	Mode Mode
	// Fidelity is the bitwidth the baselines run every shard at; 0 means
	// the store's highest. ModeWRX ignores it.
	Fidelity quant.Fidelity
	// Target and Budget are ModeWRX's latency target and preload budget
	// (bytes). The baselines ignore them.
	Target time.Duration
	Budget int64
	// Profiles feed ModeWRX's planner; Planner options choose its strategy.
	Profiles *Profiles
	Planner  Options
	// Calibration is how many warm-up requests of random tokens ModeWRX
	// runs before serving, to measure how this device compares with its
	// profile right now (see Runner.Slack); 0 means DefaultCalibration,
	// a negative value none.
	Calibration int
}

// DefaultCalibration is the number of warm-up requests NewRunner runs in
// ModeWRX.
const DefaultCalibration = 16

// shortestRequest is the token count NewRunner checks a target against:
// [CLS], a word or two, [SEP].
const shortestRequest = 4

// Runner serves tokenized requests in one mode.
type Runner struct {
	mode    Mode
	hold    *bert.Model // ModeHoldInMemory
	holdMem int64       // its weight bytes
	be      backend.Backend
	exec    *Executor
	sched   *Schedule // fixed schedule of the baselines
	planner Planner
	target  time.Duration
	budget  int64
	preload *Preload

	mu     sync.Mutex
	slack  float64   // target divisor, ≥ 1
	ratios []float64 // measured/predicted latency of recent requests
	next   int
}

// Slack adaptation: the timing model is calibrated on a quiet machine, and
// a request can run slower than predicted (other load, timer slack, cache
// misses). The runner keeps the ratios of measured to predicted latency of
// its last slackWindow requests and plans each request for Target divided
// by their 99th percentile (never below 1), so that at least 95% keep
// their deadline when the device is slower than profiled. This is the
// "re-plan when the device drifts" loop: it costs accuracy only while the
// device is slower than its profile.
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
	sorted := slices.Clone(r.ratios)
	slices.Sort(sorted)
	p := sorted[(len(sorted)*slackPercentile+99)/100-1]
	r.slack = min(max(p, 1), maxSlack)
}

// RunInfo describes one request: the executor's statistics and, in ModeWRX,
// the plan it ran.
type RunInfo struct {
	RunStats
	Plan *Plan `json:"plan,omitempty"`
	// Fallback is set when no plan met the target for this request and
	// the fastest plan within the budget ran instead.
	Fallback bool `json:"fallback,omitempty"`
}

// NewRunner prepares a mode over store: the baselines' resident model or
// the planner and its preload set.
func NewRunner(ctx context.Context, store *shardstore.Store, be backend.Backend, opts RunnerOptions) (*Runner, error) {
	mode := opts.Mode
	if mode == "" {
		mode = ModeWRX
	}
	r := &Runner{mode: mode, target: opts.Target, budget: opts.Budget, slack: 1}
	cfg := store.Config()
	fid := opts.Fidelity
	if fid == 0 {
		for _, f := range store.Manifest().Fidelities {
			fid = max(fid, f)
		}
	}
	if mode != ModeWRX && !store.Manifest().HasFidelity(fid) {
		return nil, fmt.Errorf("elastic: %s at %d bits: store has fidelities %v", mode, int(fid), store.Manifest().Fidelities)
	}
	if mode == ModeHoldInMemory {
		return holdRunner(ctx, store, be, fid)
	}
	var exOpts ExecOptions
	switch mode {
	case ModeLoadThenExec:
		exOpts.LoadAll = true
	case ModeLayerwise:
		// One layer's blobs buffered ahead while another is computed.
		exOpts.InFlight = 2 * cfg.Heads
	case ModeWRX:
		exOpts.InFlight = opts.Planner.InFlight
		exOpts.PreloadLimit = max(opts.Budget, 1) // a zero budget preloads nothing
	default:
		return nil, fmt.Errorf("elastic: unknown mode %q", mode)
	}
	ex, err := NewExecutor(ctx, store, be, exOpts)
	if err != nil {
		return nil, err
	}
	r.exec = ex
	if mode != ModeWRX {
		r.sched = Uniform(cfg, fid)
		return r, nil
	}
	if opts.Profiles == nil {
		return nil, errors.New("elastic: wrx mode needs importance and device profiles (run wrx profile importance and wrx profile device)")
	}
	if t, ok := be.(Threaded); ok && opts.Profiles.Device != nil && opts.Profiles.Device.Threads > 0 && t.Threads() != opts.Profiles.Device.Threads {
		return nil, fmt.Errorf("elastic: the device profile was measured with %d compute threads, the backend has %d: its timings would not hold (profile the device again, or use %d threads)",
			opts.Profiles.Device.Threads, t.Threads(), opts.Profiles.Device.Threads)
	}
	pl, err := New(opts.Profiles, opts.Planner)
	if err != nil {
		return nil, err
	}
	pre, err := pl.Preload(opts.Target, opts.Budget)
	if err != nil {
		return nil, err
	}
	// A target that not even the shortest requests can meet is refused
	// here, with the minimum, rather than on every request.
	if _, err := pl.Plan(Request{Target: opts.Target, Budget: opts.Budget, SeqLen: shortestRequest, Preload: pre}); err != nil {
		return nil, err
	}
	if err := ex.SetRows(ctx, pre.Rows); err != nil {
		return nil, err
	}
	if err := ex.SetPreload(ctx, pre.Keys()); err != nil {
		return nil, err
	}
	r.planner, r.preload = pl, pre
	if err := r.calibrate(ctx, opts.Calibration); err != nil {
		return nil, err
	}
	return r, nil
}

func holdRunner(ctx context.Context, store *shardstore.Store, be backend.Backend, f quant.Fidelity) (*Runner, error) {
	m, err := store.Uniform(ctx, f)
	if err != nil {
		return nil, err
	}
	words, err := store.WordTable(ctx)
	if err != nil {
		return nil, err
	}
	m.Embeddings.Word = words
	if err := m.Fuse(); err != nil {
		return nil, err
	}
	mem := store.ResidentBytes() + 4*int64(len(words.Data)) + m.FusedBytes()
	for _, k := range Uniform(m.Config, f).Keys() {
		if (k.Part == shardstore.Attention && m.Layers[k.Layer].Attention[k.Head] != nil) ||
			(k.Part == shardstore.FFN && m.Layers[k.Layer].FFN[k.Head] != nil) {
			mem += store.Size(k)
		}
	}
	return &Runner{mode: ModeHoldInMemory, hold: m, holdMem: mem, be: be}, nil
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

// Mode returns the runner's mode.
func (r *Runner) Mode() Mode { return r.mode }

// Executor returns the runner's executor; nil in ModeHoldInMemory, which
// computes from memory alone.
func (r *Runner) Executor() *Executor { return r.exec }

// ResidentBytes is the weight memory every request of this runner holds:
// the whole model in ModeHoldInMemory, the resident parts otherwise.
func (r *Runner) ResidentBytes() int64 {
	if r.hold != nil {
		return r.holdMem
	}
	return r.exec.ResidentBytes()
}

// PreloadBytes is the memory of the executor's preload buffer (0 in
// ModeHoldInMemory, whose whole model is counted as resident).
func (r *Runner) PreloadBytes() int64 {
	if r.hold != nil {
		return 0
	}
	return r.exec.PreloadBytes()
}

// Preload returns ModeWRX's resident set, or nil.
func (r *Runner) Preload() *Preload { return r.preload }

// Run serves one tokenized request.
func (r *Runner) Run(ctx context.Context, ids, typeIDs []int) ([]float32, RunInfo, error) {
	var info RunInfo
	if r.hold != nil {
		start := time.Now()
		logits, err := r.hold.Forward(ctx, r.be, ids, typeIDs)
		info.Latency = time.Since(start)
		info.PeakWeightBytes, info.ResidentBytes = r.holdMem, r.holdMem
		return logits, info, err
	}
	sched := r.sched
	if r.mode == ModeWRX {
		target := time.Duration(float64(r.target) / r.Slack())
		req := Request{Target: target, Budget: r.budget, SeqLen: len(ids), Preload: r.preload, CachedRows: r.exec.CachedRows(ids)}
		plan, err := r.planner.Plan(req)
		var inf *InfeasibleError
		if errors.As(err, &inf) && inf.MinTarget > 0 {
			// Longer than the target allows: run the fastest plan rather
			// than nothing; the caller sees the predicted miss.
			req.Target = inf.MinTarget
			plan, err = r.planner.Plan(req)
			info.Fallback = true
		}
		if err != nil {
			return nil, info, err
		}
		info.Plan = plan
		sched = ScheduleOf(plan)
	}
	logits, st, err := r.exec.Run(ctx, sched, ids, typeIDs)
	info.RunStats = st
	if err == nil && info.Plan != nil {
		r.observe(st.Latency, info.Plan.PredictedLatency)
	}
	return logits, info, err
}

// ScheduleOf is the executor schedule of a plan.
func ScheduleOf(p *Plan) *Schedule {
	n := 0
	for _, l := range p.Layers {
		n = max(n, l.Layer+1)
	}
	s := &Schedule{Layers: make([][]Choice, n)}
	for _, l := range p.Layers {
		for _, c := range l.Shards {
			s.Layers[l.Layer] = append(s.Layers[l.Layer], Choice{Head: c.Head, Fidelity: c.Bits})
		}
	}
	return s
}

// Keys lists the shard versions of the preload set, both parts of each.
func (p *Preload) Keys() []shardstore.Key {
	var keys []shardstore.Key
	for _, v := range p.Shards {
		for _, part := range []shardstore.Part{shardstore.Attention, shardstore.FFN} {
			keys = append(keys, shardstore.Key{Layer: v.Layer, Head: v.Head, Part: part, Fidelity: v.Bits})
		}
	}
	return keys
}
