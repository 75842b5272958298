// Package elasticbench measures WRX's elastic pipeline against the paper's
// baselines (hold-in-memory, load-then-exec, layerwise-pipeline) on a
// labelled data set, under latency targets and memory budgets, as `wrx
// bench` does. It also holds two analyses the planner's claims rest on:
// Importance (dropping the least important shards costs less than dropping
// random ones) and the comparison of the two planners (Report.Planners).
//
// A benchmark is a set of units (see Unit): each baseline once per
// fidelity, since it depends on neither target nor budget, and WRX once per
// (planner, target, budget). A baseline is then scored against every
// target, and fails a target it misses. Every unit opens the store afresh,
// serves each example once, and starts each request cold: with direct IO
// nothing but the resident parts and the preload buffer is in memory.
// Units run through a Measurer; Subprocess runs each in a child process of
// its own, which is what makes the reported peak RSS per mode.
package elasticbench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/glue"
	"github.com/wrxlabs/wrx/internal/stats"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/quant"
)

// Defaults used when the corresponding Options field is empty.
var (
	DefaultBudgets     = []int64{1e6, 4e6, 16e6}
	DefaultAutoTargets = 8
	// AutoTargetHeadroom multiplies the smallest target the planner accepts
	// for the longest request, to give the smallest automatic target. The
	// runner plans for the target divided by its slack (the 99th percentile
	// of measured/predicted latency, 1.1–1.4 on a shared machine), so a
	// target at the planner's bare minimum is one it would reject.
	AutoTargetHeadroom = 1.5
)

// Options configures Run. Setup and Examples are required; every other zero
// value has a useful default.
type Options struct {
	Setup Setup
	// Task and Data describe the examples, for the report.
	Task, Data string
	// Examples are the labelled requests, served in order.
	Examples []glue.Example
	// Modes to measure; nil means all of Modes().
	Modes []Mode
	// Fidelities the baselines run at; nil means the store's highest.
	// Hold-in-memory at several fidelities is the paper's "fp32, and at X
	// bits".
	Fidelities []quant.Fidelity
	// ModeFidelities, for the baseline modes it names, replaces Fidelities:
	// e.g. quantized-hold at 2, 3, 4 and 8 bits while the other baselines
	// run at 32 and 8 only.
	ModeFidelities map[Mode][]quant.Fidelity
	// Targets for WRX, and to score the baselines against; nil means
	// automatic: AutoTargets targets from the smallest the planner accepts
	// for every request at every budget, times AutoTargetHeadroom, to the
	// full model's cold time (the layerwise-pipeline baseline's p50 at 32 bits
	// when it is measured, else the planner's prediction for the whole
	// model at 32 bits).
	Targets     []time.Duration
	AutoTargets int
	// Budgets are WRX's total memory budgets in bytes (see
	// elastic.RunnerOptions.Budget); nil means
	// DefaultBudgets.
	Budgets []int64
	// Planners to run WRX with; nil means the default strategy. With more
	// than one, Report.Planners compares them.
	Planners []plan.Strategy
	// BaselineLimit, when positive, times the baselines that stream the
	// whole model per request (load-then-exec, layerwise-pipeline) on the
	// first BaselineLimit examples only. Their accuracy is then
	// hold-in-memory's at the same fidelity, which runs too: the
	// computation is the same, and Report.Meta.Checks verifies that the
	// predicted labels agree on the timed examples.
	BaselineLimit int
	// Resume, when set, is an earlier report of the same benchmark (same
	// store, throttle, data and examples), typically one that was
	// interrupted: its units are reused instead of measured again, and so
	// are its automatic targets and its choice of read profile, so that the
	// units still to measure are the same ones.
	Resume *Report
	// Measurer runs the units; nil means InProcess.
	Measurer Measurer
	// Log receives one line per unit; nil discards them.
	Log io.Writer
}

// Row is one line of results.json: a mode at one (target, budget).
type Row struct {
	Mode     Mode           `json:"mode"`
	Planner  plan.Strategy  `json:"planner,omitempty"`
	Fidelity quant.Fidelity `json:"fidelity,omitempty"`
	TargetMS float64        `json:"target_ms"`
	// BudgetBytes is WRX's preload budget; 0 for the baselines, to which
	// no budget applies.
	BudgetBytes int64  `json:"budget_bytes"`
	Throttle    string `json:"throttle"`
	// N is the number of examples Accuracy is over, NTimed the number of
	// requests the latencies are over.
	N              int     `json:"n"`
	NTimed         int     `json:"n_timed"`
	Accuracy       float64 `json:"accuracy"`
	AccuracySource string  `json:"accuracy_source"`
	P50MS          float64 `json:"p50_ms"`
	P95MS          float64 `json:"p95_ms"`
	MaxMS          float64 `json:"max_ms"`
	MeanMS         float64 `json:"mean_ms"`
	Misses         int     `json:"misses"`
	MissRate       float64 `json:"miss_rate"`
	// MeetsTarget is p95 ≤ target and miss rate ≤ MaxMissRate.
	MeetsTarget bool `json:"meets_target"`
	// PeakWeightBytes is the most weight memory any request held
	// (pipeline.RunStats.PeakWeightBytes): resident parts, preload buffer
	// and streaming buffers.
	PeakWeightBytes int64 `json:"peak_weight_bytes"`
	// PeakRSSBytes is the peak resident set of the process that measured
	// the mode; RSSIsolated says whether that process measured only it.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// ModelRSSBytes is PeakRSSBytes minus the runtime floor measured in the
	// same process before any weight was loaded (UnitResult.FloorRSS): the
	// memory the model took, measured, to hold against the budget. Zero
	// when the unit did not run in a process of its own.
	ModelRSSBytes int64 `json:"model_rss_bytes"`
	// FloorRSSBytes is that floor (UnitResult.FloorRSS); 0 in reports from
	// before it was measured.
	FloorRSSBytes int64   `json:"floor_rss_bytes,omitempty"`
	RSSIsolated   bool    `json:"rss_isolated"`
	MeanIOBytes   float64 `json:"mean_io_bytes"`
	// MeanStorageReads is the mean number of storage reads per request
	// (Sample.StorageReads).
	MeanStorageReads float64 `json:"mean_storage_reads"`
	// Refused counts the requests no plan could answer in time; they
	// count as misses and as wrong answers.
	Refused int `json:"refused"`
	// Fallbacks counts the requests WRX's planner could not fit in the
	// target, which ran its fastest plan instead.
	Fallbacks int `json:"fallbacks"`
	// WRX only: the mean predicted loss of the plans, the mean planning
	// time, the preload buffer, and the weight-memory bound: resident parts
	// + budget + the plans' largest in-flight bound.
	PredictedLoss float64 `json:"predicted_loss,omitempty"`
	PlanMS        float64 `json:"plan_ms,omitempty"`
	// Gap is the mean over the requests that ran a plan made for their
	// target of its gap to the lower bound on the request's loss
	// (Sample.Gap), GapMax the largest.
	Gap    float64 `json:"gap"`
	GapMax float64 `json:"gap_max"`
	// PredictedP50MS is the nearest-rank p50 of the plans' predicted
	// latencies and Overrun the nearest-rank p50 of the ratios of measured
	// to predicted latency (stats.Quantile): above 1, the timing model is
	// optimistic on this machine.
	PredictedP50MS   float64 `json:"predicted_p50_ms,omitempty"`
	Overrun          float64 `json:"overrun,omitempty"`
	ResidentBytes    int64   `json:"resident_bytes"`
	PreloadBytes     int64   `json:"preload_bytes"`
	WeightBoundBytes int64   `json:"weight_bound_bytes,omitempty"`
	WithinBound      *bool   `json:"within_bound,omitempty"`
}

// Label names the row's series in tables and plots, e.g. "wrx/optimal
// 4.00MB" or "hold-in-memory@32".
func (r *Row) Label() string {
	if r.Mode == ModeWRX {
		return fmt.Sprintf("wrx/%s %s", r.Planner, units.FormatBytes(r.BudgetBytes))
	}
	return fmt.Sprintf("%s@%d", r.Mode, int(r.Fidelity))
}

// IOProfile is the read side of the device profile: as stored (adjusted for
// the throttle) and as re-measured on the storage the benchmark reads.
type IOProfile struct {
	ProfileBandwidth  float64       `json:"profile_bandwidth"`
	ProfileLatency    time.Duration `json:"profile_latency_ns"`
	MeasuredBandwidth float64       `json:"measured_bandwidth"`
	MeasuredLatency   time.Duration `json:"measured_latency_ns"`
	// Used is "profile", "measured" (they differed by more than 10%) or
	// "given" (Setup set it).
	Used string `json:"used"`
}

// Check is the verification that a streaming baseline computes what
// hold-in-memory computes at the same fidelity.
type Check struct {
	Mode      Mode           `json:"mode"`
	Fidelity  quant.Fidelity `json:"fidelity"`
	Reference string         `json:"reference"`
	// Compared examples, and on how many the predicted labels agree.
	Compared int  `json:"compared"`
	Agree    int  `json:"agree"`
	Equal    bool `json:"equal"`
}

// Meta describes how a benchmark ran.
type Meta struct {
	Store      string `json:"store"`
	Model      string `json:"model"`
	Synthetic  bool   `json:"synthetic"`
	Task       string `json:"task"`
	Data       string `json:"data"`
	N          int    `json:"n"`
	Backend    string `json:"backend"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	// StreamThreads is the compute threads of wrx and layerwise-pipeline
	// (the others use GOMAXPROCS); 0 in reports from before it was set.
	StreamThreads int    `json:"stream_threads,omitempty"`
	Throttle      string `json:"throttle"`
	DirectIO      bool   `json:"direct_io"`
	// IO is set when WRX ran or the targets were automatic.
	IO           *IOProfile `json:"io,omitempty"`
	MedianTokens int        `json:"median_tokens"`
	MaxTokens    int        `json:"max_tokens"`
	// AutoTargetAccepted is the smallest target the planner accepts for
	// every request at every budget; AutoTargetMin is it times
	// AutoTargetHeadroom.
	AutoTargetAccepted float64   `json:"auto_target_accepted_ms,omitempty"`
	TargetsMS          []float64 `json:"targets_ms"`
	TargetsAuto        bool      `json:"targets_auto"`
	AutoTargetMin      float64   `json:"auto_target_min_ms,omitempty"`
	AutoTargetMax      float64   `json:"auto_target_max_ms,omitempty"`
	AutoMaxSource      string    `json:"auto_target_max_source,omitempty"`
	BaselineLimit      int       `json:"baseline_limit,omitempty"`
	Checks             []Check   `json:"checks,omitempty"`
	Isolated           bool      `json:"rss_isolated"`
	LoadStart          string    `json:"loadavg_start"`
	LoadEnd            string    `json:"loadavg_end"`
	Started            time.Time `json:"started"`
	Seconds            float64   `json:"seconds"`
	Notes              []string  `json:"notes,omitempty"`
}

// PlannerStats is one planner's outcome at one (target, budget).
type PlannerStats struct {
	PredictedLoss float64 `json:"predicted_loss"`
	Accuracy      float64 `json:"accuracy"`
	P95MS         float64 `json:"p95_ms"`
	MissRate      float64 `json:"miss_rate"`
	Fallbacks     int     `json:"fallbacks"`
	PlanMS        float64 `json:"plan_ms"`
}

// PlannerRow compares the planners on the same requests at one (target,
// budget).
type PlannerRow struct {
	TargetMS    float64                        `json:"target_ms"`
	BudgetBytes int64                          `json:"budget_bytes"`
	Planners    map[plan.Strategy]PlannerStats `json:"planners"`
}

// Report is a benchmark's outcome.
type Report struct {
	Meta     Meta         `json:"meta"`
	Rows     []Row        `json:"rows"`
	Planners []PlannerRow `json:"planners,omitempty"`
	// Units holds every measurement with its per-request samples.
	Units []*UnitResult `json:"units"`
}

// streams reports whether a baseline reads the whole model per request.
func streams(m Mode) bool {
	return m == ModeLoadThenExec || m == ModeLayerwise
}

// Run measures every unit opts asks for and scores them.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if len(opts.Examples) == 0 {
		return nil, errors.New("bench: no examples")
	}
	if opts.Setup.Store == "" {
		return nil, errors.New("bench: no store")
	}
	modes := opts.Modes
	if len(modes) == 0 {
		modes = Modes()
	}
	for _, t := range opts.Targets {
		if t <= 0 {
			return nil, fmt.Errorf("bench: target %v is not positive", t)
		}
	}
	budgets := opts.Budgets
	if len(budgets) == 0 {
		budgets = DefaultBudgets
	}
	for _, b := range budgets {
		if b < 0 {
			return nil, fmt.Errorf("bench: budget %d bytes is negative", b)
		}
	}
	planners := opts.Planners
	if len(planners) == 0 {
		planners = plan.Strategies()[:1]
	}
	for _, p := range planners {
		if _, err := plan.ParseStrategy(string(p)); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	if opts.BaselineLimit < 0 {
		return nil, fmt.Errorf("bench: baseline limit %d is negative", opts.BaselineLimit)
	}
	measurer := opts.Measurer
	if measurer == nil {
		measurer = InProcess{}
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	set := opts.Setup
	b := &bench{opts: opts, set: &set, measurer: measurer, log: logw}
	b.rep.Meta = Meta{
		Store: set.Store, Task: opts.Task, Data: opts.Data, N: len(opts.Examples), Backend: set.backendName(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), StreamThreads: set.streamThreads(), Throttle: throttleString(&set), BaselineLimit: opts.BaselineLimit,
		LoadStart: loadAvg(), Started: time.Now(),
	}
	if opts.Resume != nil {
		if err := b.checkResume(opts.Resume); err != nil {
			return nil, err
		}
	}
	if err := b.prepare(ctx, modes); err != nil {
		return nil, err
	}
	targets, err := b.run(ctx, modes, budgets, planners)
	b.score(targets)
	if len(planners) > 1 {
		b.rep.Planners = comparePlanners(b.rep.Rows, planners)
	}
	m := &b.rep.Meta
	m.LoadEnd = loadAvg()
	m.Seconds = time.Since(m.Started).Seconds()
	m.Isolated = true
	for _, u := range b.rep.Units {
		m.Isolated = m.Isolated && u.Isolated
	}
	if !m.Isolated {
		m.Notes = append(m.Notes, "peak RSS was measured in one process for all modes: it is the process's peak so far, not each mode's")
	}
	if r := opts.Resume; r != nil {
		reused := 0
		for _, u := range b.rep.Units {
			if slices.Contains(r.Units, u) {
				reused++
			}
		}
		m.Notes = append(m.Notes, fmt.Sprintf("resumed an earlier run: %d of the %d runs are reused from it (its load average at start: %s)", reused, len(b.rep.Units), r.Meta.LoadStart))
	}
	if err != nil {
		m.Notes = append(m.Notes, "INCOMPLETE: "+err.Error())
		return &b.rep, err
	}
	return &b.rep, nil
}

// run measures the baselines, chooses the targets and measures WRX. On an
// error it returns the targets chosen so far (nil before they are), and
// b.rep holds the units measured so far.
func (b *bench) run(ctx context.Context, modes []Mode, budgets []int64, planners []plan.Strategy) ([]time.Duration, error) {
	if err := b.baselines(ctx, modes); err != nil {
		return nil, err
	}
	targets, err := b.targets(ctx, budgets, planners[0])
	if err != nil {
		return nil, err
	}
	if slices.Contains(modes, ModeWRX) {
		for _, pl := range planners {
			for _, bud := range budgets {
				for _, t := range targets {
					if _, err := b.measure(ctx, Unit{Mode: ModeWRX, Planner: pl, Target: t, Budget: bud}); err != nil {
						return targets, err
					}
				}
			}
		}
	}
	return targets, nil
}

type bench struct {
	opts     Options
	set      *Setup
	measurer Measurer
	log      io.Writer

	rep      Report
	fids     []quant.Fidelity
	prof     *plan.Profiles // with the read side the units use; nil until needed
	medianS  int
	maxS     int
	ids      [][]int // every request's input ids
	hiSource string
}

func (b *bench) logf(format string, args ...any) { fmt.Fprintf(b.log, format+"\n", args...) }

// prepare reads what the parent needs from the store: the model, the
// median request length, and (when WRX runs or targets are automatic) the
// profiles, with the read side re-measured on the storage as the units
// will read it.
func (b *bench) prepare(ctx context.Context, modes []Mode) error {
	s, direct, err := openStore(ctx, b.set)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer s.Close()
	man := s.Manifest()
	m := &b.rep.Meta
	m.DirectIO, m.Model, m.Synthetic = direct, man.Source, man.Synthetic
	if !direct {
		m.Notes = append(m.Notes, "the store is not read with direct IO: reads may be served by the page cache")
	}
	if man.Synthetic {
		m.Notes = append(m.Notes, "the store holds random weights (wrx synth): its latency and memory are real, its accuracy means nothing")
	}
	b.fids = slices.Clone(b.opts.Fidelities)
	if len(b.fids) == 0 {
		b.fids = []quant.Fidelity{slices.Max(man.Fidelities)}
	}
	for m, fids := range b.opts.ModeFidelities {
		if m == ModeWRX {
			return errors.New("bench: WRX has no fidelity of its own to set (its planner chooses one per shard)")
		}
		if len(fids) == 0 {
			return fmt.Errorf("bench: no fidelities given for %s", m)
		}
	}
	for _, f := range b.allFidelities() {
		if !man.HasFidelity(f) {
			return fmt.Errorf("bench: the store has no %d-bit shards (it has %v)", f, man.Fidelities)
		}
	}
	tok, err := s.Tokenizer()
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	encs, err := encodeAll(tok, b.opts.Examples, b.set.maxLen())
	if err != nil {
		return fmt.Errorf("bench: %s: %w", b.opts.Data, err)
	}
	lens := make([]int, len(encs))
	b.ids = make([][]int, len(encs))
	for i, e := range encs {
		lens[i] = len(e.InputIDs)
		b.ids[i] = e.InputIDs
	}
	b.medianS, b.maxS = stats.Quantile(lens, 0.5), stats.Quantile(lens, 1)
	m.MedianTokens, m.MaxTokens = b.medianS, b.maxS
	if !slices.Contains(modes, ModeWRX) && len(b.opts.Targets) > 0 {
		return nil
	}
	be, err := b.set.backend(ModeWRX)
	if err != nil {
		return err
	}
	prof, err := profile.LoadProfiles(ctx, b.set.Store, s, be, b.set.Throttle)
	if err != nil {
		return fmt.Errorf("bench: WRX and automatic targets need the store's profiles: %w", err)
	}
	iop := &IOProfile{ProfileBandwidth: prof.Device.ReadBandwidth, ProfileLatency: prof.Device.ReadLatency, Used: "profile"}
	iop.MeasuredBandwidth, iop.MeasuredLatency, err = profile.MeasureReads(ctx, s, s.Storage(), profile.DeviceOptions{ReadQueue: prof.Device.ReadQueue})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	switch prev := b.resumedIO(); {
	case b.set.ReadBandwidth > 0:
		iop.Used = "given"
	case prev != nil:
		// Keep the earlier run's profile, so that the units still to
		// measure plan as the reused ones did.
		iop = prev
		if iop.Used == "measured" {
			b.set.ReadBandwidth, b.set.ReadLatency = iop.MeasuredBandwidth, iop.MeasuredLatency
		}
	case readsDiffer(iop):
		b.set.ReadBandwidth, b.set.ReadLatency = iop.MeasuredBandwidth, iop.MeasuredLatency
		iop.Used = "measured"
	}
	if b.set.ReadBandwidth > 0 {
		prof.Device = prof.Device.WithReads(b.set.ReadBandwidth, b.set.ReadLatency)
	}
	m.IO, b.prof = iop, prof
	b.logf("reads: profile %s + %v per read; measured now %s + %v; the planner uses the %s values",
		units.FormatBandwidth(iop.ProfileBandwidth), iop.ProfileLatency.Round(time.Microsecond),
		units.FormatBandwidth(iop.MeasuredBandwidth), iop.MeasuredLatency.Round(time.Microsecond), iop.Used)
	return nil
}

// resumedIO returns the read profile of the run being resumed, if any.
func (b *bench) resumedIO() *IOProfile {
	if r := b.opts.Resume; r != nil && r.Meta.IO != nil {
		io := *r.Meta.IO
		return &io
	}
	return nil
}

// checkResume reports why r cannot be resumed by this benchmark.
func (b *bench) checkResume(r *Report) error {
	m := &b.rep.Meta
	switch {
	case r.Meta.Store != m.Store:
		return fmt.Errorf("bench: cannot resume a run on store %s with store %s", r.Meta.Store, m.Store)
	case r.Meta.Throttle != m.Throttle:
		return fmt.Errorf("bench: cannot resume a run with throttle %s with throttle %s", r.Meta.Throttle, m.Throttle)
	case r.Meta.N != m.N || r.Meta.Data != m.Data:
		return fmt.Errorf("bench: cannot resume a run on %d examples of %s with %d examples of %s", r.Meta.N, r.Meta.Data, m.N, m.Data)
	}
	return nil
}

// readsDiffer reports whether the measured read side is more than 10% off
// the profile's (and, for the latency, more than 20µs off: below that the
// fit cannot tell them apart).
func readsDiffer(p *IOProfile) bool {
	if math.Abs(p.MeasuredBandwidth/p.ProfileBandwidth-1) > 0.10 {
		return true
	}
	d := (p.MeasuredLatency - p.ProfileLatency).Abs()
	return d > 20*time.Microsecond && float64(d) > 0.10*float64(p.ProfileLatency)
}

func (b *bench) measure(ctx context.Context, u Unit) (*UnitResult, error) {
	n := len(b.opts.Examples)
	if u.Limit > 0 {
		n = min(n, u.Limit)
	}
	if r := b.opts.Resume; r != nil {
		for _, prev := range r.Units {
			if prev.Unit == u && len(prev.Samples) == n {
				b.logf("[%d] %v: reused from the earlier run", len(b.rep.Units)+1, u)
				b.rep.Units = append(b.rep.Units, prev)
				return prev, nil
			}
		}
	}
	b.logf("[%d] %v: %d requests", len(b.rep.Units)+1, u, n)
	job := &Job{Setup: *b.set, Unit: u, Examples: b.opts.Examples}
	res, err := b.measurer.Measure(ctx, job)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if len(res.Samples) != n {
		return nil, fmt.Errorf("bench: %v: measured %d requests, want %d", u, len(res.Samples), n)
	}
	st := Summarize(latencies(res.Samples))
	line := fmt.Sprintf("    accuracy %.4f, p50 %.2fms, p95 %.2fms, max %.2fms, peak weights %s, peak RSS %s",
		accuracy(res.Samples), ms(st.P50), ms(st.P95), ms(st.Max), units.FormatBytes(maxPeak(res.Samples)), units.FormatBytes(res.PeakRSS))
	if u.Mode == ModeWRX {
		misses, rate := Misses(latencies(res.Samples), u.Target)
		line += fmt.Sprintf(", %d misses (%.1f%%), %d fallbacks", misses, 100*rate, fallbacks(res.Samples))
	}
	b.logf("%s", line)
	b.rep.Units = append(b.rep.Units, res)
	return res, nil
}

// baselines measures each baseline mode once per fidelity, adding
// hold-in-memory as the accuracy reference of limited streaming baselines.
func (b *bench) baselines(ctx context.Context, modes []Mode) error {
	var base []Mode
	for _, m := range Modes() {
		if m != ModeWRX && slices.Contains(modes, m) {
			base = append(base, m)
		}
	}
	limited := b.opts.BaselineLimit > 0 && slices.ContainsFunc(base, streams)
	if limited && !slices.Contains(base, ModeHoldInMemory) {
		base = append([]Mode{ModeHoldInMemory}, base...)
		b.rep.Meta.Notes = append(b.rep.Meta.Notes, "hold-in-memory was added as the accuracy reference of the baselines timed on the first examples only")
	}
	for _, f := range b.allFidelities() {
		for _, m := range base {
			if !slices.Contains(b.fidelities(m), f) {
				continue
			}
			u := Unit{Mode: m, Fidelity: f}
			if streams(m) {
				u.Limit = b.opts.BaselineLimit
			}
			if _, err := b.measure(ctx, u); err != nil {
				return err
			}
		}
	}
	return nil
}

// fidelities returns the fidelities baseline mode m runs at:
// opts.ModeFidelities[m], else those of every baseline.
func (b *bench) fidelities(m Mode) []quant.Fidelity {
	if f, ok := b.opts.ModeFidelities[m]; ok {
		return f
	}
	return b.fids
}

// allFidelities lists every fidelity some baseline runs at, those of every
// baseline first, then the others in the order of Modes().
func (b *bench) allFidelities() []quant.Fidelity {
	out := slices.Clone(b.fids)
	for _, m := range Modes() {
		for _, f := range b.opts.ModeFidelities[m] {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// targets returns opts.Targets, or the automatic sweep.
func (b *bench) targets(ctx context.Context, budgets []int64, strat plan.Strategy) ([]time.Duration, error) {
	m := &b.rep.Meta
	if len(b.opts.Targets) > 0 {
		t := slices.Clone(b.opts.Targets)
		slices.Sort(t)
		t = slices.Compact(t)
		for _, d := range t {
			m.TargetsMS = append(m.TargetsMS, ms(d))
		}
		return t, nil
	}
	if r := b.opts.Resume; r != nil && r.Meta.TargetsAuto {
		m.TargetsAuto, m.AutoTargetMin, m.AutoTargetMax, m.AutoMaxSource = true, r.Meta.AutoTargetMin, r.Meta.AutoTargetMax, r.Meta.AutoMaxSource
		m.AutoTargetAccepted = r.Meta.AutoTargetAccepted
		m.TargetsMS = slices.Clone(r.Meta.TargetsMS)
		var t []time.Duration
		for _, v := range m.TargetsMS {
			t = append(t, time.Duration(math.Round(v*1e6)))
		}
		b.logf("automatic targets of the earlier run: %v", t)
		return t, nil
	}
	pl, err := plan.New(b.prof, plan.Options{Strategy: strat})
	if err != nil {
		return nil, fmt.Errorf("bench: automatic targets: %w", err)
	}
	// The longest request is not always the slowest: word rows in the
	// preload buffer (at most half the budget, when the planner gives rows
	// the most) need no read.
	var accepted time.Duration
	for _, budget := range budgets {
		hot := map[int]bool{}
		for _, id := range b.prof.Words.HotRows(budget/2, b.prof.Geometry.RowMemBytes) {
			hot[id] = true
		}
		for _, ids := range b.ids {
			t, err := plan.MinTargetFor(pl, plan.Request{Budget: budget, SeqLen: len(ids), CachedRows: cachedRows(ids, hot)})
			if err != nil {
				return nil, fmt.Errorf("bench: automatic targets: %w", err)
			}
			accepted = max(accepted, t)
		}
	}
	lo := time.Duration(float64(accepted) * AutoTargetHeadroom)
	var hi time.Duration
	for _, u := range b.rep.Units {
		if u.Unit.Mode == ModeLayerwise && u.Unit.Fidelity == quant.FP32 {
			hi = Summarize(latencies(u.Samples)).P50
			m.AutoMaxSource = fmt.Sprintf("layerwise-pipeline@32 p50, measured on %d requests", len(u.Samples))
		}
	}
	if hi == 0 {
		plan, err := pl.Plan(plan.Request{Target: time.Hour, Budget: 0, SeqLen: b.medianS})
		if err != nil {
			return nil, fmt.Errorf("bench: automatic targets: predicting the full model: %w", err)
		}
		hi = plan.PredictedLatency
		m.AutoMaxSource = "the planner's prediction for the least-loss plan without preload (the whole model)"
	}
	n := b.opts.AutoTargets
	if n <= 0 {
		n = DefaultAutoTargets
	}
	t, err := AutoTargets(lo, hi, n)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	m.TargetsAuto, m.AutoTargetAccepted, m.AutoTargetMin, m.AutoTargetMax = true, ms(accepted), ms(lo), ms(hi)
	for _, d := range t {
		m.TargetsMS = append(m.TargetsMS, ms(d))
	}
	b.logf("automatic targets from %v (%.2g × %v, the smallest the planner accepts for every request at every budget) to %v (%s): %v",
		lo, AutoTargetHeadroom, accepted, hi, m.AutoMaxSource, t)
	return t, nil
}

// score turns the units into rows: each baseline once per target, each
// WRX unit at its own target and budget.
func (b *bench) score(targets []time.Duration) {
	b.rep.Rows, b.rep.Meta.Checks = nil, nil
	hold := map[quant.Fidelity]*UnitResult{}
	for _, u := range b.rep.Units {
		if u.Unit.Mode == ModeHoldInMemory {
			hold[u.Unit.Fidelity] = u
		}
	}
	thr := b.rep.Meta.Throttle
	for _, u := range b.rep.Units {
		if u.Unit.Mode == ModeWRX {
			b.rep.Rows = append(b.rep.Rows, wrxRow(u, thr))
			continue
		}
		acc, n, src := accuracy(u.Samples), len(u.Samples), "measured"
		if ref := hold[u.Unit.Fidelity]; ref != nil && u != ref {
			same, shared := agreement(u.Samples, ref.Samples)
			c := Check{Mode: u.Unit.Mode, Fidelity: u.Unit.Fidelity, Reference: fmt.Sprintf("%s@%d", ref.Unit.Mode, int(ref.Unit.Fidelity)),
				Compared: shared, Agree: same, Equal: same == shared && shared == len(u.Samples)}
			b.rep.Meta.Checks = append(b.rep.Meta.Checks, c)
			if c.Equal && len(ref.Samples) > len(u.Samples) {
				acc, n = accuracy(ref.Samples), len(ref.Samples)
				src = fmt.Sprintf("%s's: same computation, identical labels on the %d timed requests", c.Reference, shared)
			} else if !c.Equal {
				src = fmt.Sprintf("measured; labels differ from %s on %d of %d requests", c.Reference, shared-same, shared)
			}
		}
		lat := latencies(u.Samples)
		st := Summarize(lat)
		for _, t := range targets {
			misses, rate := Misses(lat, t)
			b.rep.Rows = append(b.rep.Rows, Row{
				Mode: u.Unit.Mode, Fidelity: u.Unit.Fidelity, TargetMS: ms(t), Throttle: thr,
				N: n, NTimed: len(u.Samples), Accuracy: acc, AccuracySource: src,
				P50MS: ms(st.P50), P95MS: ms(st.P95), MaxMS: ms(st.Max), MeanMS: ms(st.Mean),
				Misses: misses, MissRate: rate, MeetsTarget: Meets(st.P95, rate, t),
				PeakWeightBytes: maxPeak(u.Samples), PeakRSSBytes: u.PeakRSS, ModelRSSBytes: modelRSS(u), FloorRSSBytes: u.FloorRSS, RSSIsolated: u.Isolated,
				MeanIOBytes: meanIO(u.Samples), ResidentBytes: u.ResidentBytes, PreloadBytes: u.PreloadBytes,
				MeanStorageReads: meanReads(u.Samples),
			})
		}
	}
	slices.SortStableFunc(b.rep.Rows, func(x, y Row) int {
		return cmp.Or(cmp.Compare(x.TargetMS, y.TargetMS), cmp.Compare(modeOrder(x.Mode), modeOrder(y.Mode)),
			cmp.Compare(x.Planner, y.Planner), cmp.Compare(x.BudgetBytes, y.BudgetBytes), cmp.Compare(y.Fidelity, x.Fidelity))
	})
}

// Rescore recomputes the rows, the accuracy checks and the planner
// comparison of r from its units and Meta.TargetsMS, as Run scored them.
// It lets a report read back with ReadReport pick up changes in scoring.
func (r *Report) Rescore() {
	if len(r.Units) == 0 {
		return
	}
	b := &bench{rep: *r}
	var targets []time.Duration
	for _, t := range r.Meta.TargetsMS {
		targets = append(targets, time.Duration(math.Round(t*1e6)))
	}
	b.score(targets)
	var planners []plan.Strategy
	for _, u := range r.Units {
		if u.Unit.Mode == ModeWRX && !slices.Contains(planners, u.Unit.Planner) {
			planners = append(planners, u.Unit.Planner)
		}
	}
	b.rep.Planners = nil
	if len(planners) > 1 {
		b.rep.Planners = comparePlanners(b.rep.Rows, planners)
	}
	*r = b.rep
}

func modeOrder(m Mode) int { return slices.Index(Modes(), m) }

func wrxRow(u *UnitResult, thr string) Row {
	lat := latencies(u.Samples)
	st, ans := Summarize(lat), Summarize(answered(u.Samples))
	misses, rate := Misses(lat, u.Unit.Target)
	r := Row{
		Mode: ModeWRX, Planner: u.Unit.Planner, TargetMS: ms(u.Unit.Target), BudgetBytes: u.Unit.Budget, Throttle: thr,
		N: len(u.Samples), NTimed: len(u.Samples), Accuracy: accuracy(u.Samples), AccuracySource: "measured",
		P50MS: ms(st.P50), P95MS: ms(st.P95), MaxMS: ms(ans.Max), MeanMS: ms(ans.Mean), Refused: refused(u.Samples),
		Misses: misses, MissRate: rate, MeetsTarget: Meets(st.P95, rate, u.Unit.Target),
		PeakWeightBytes: maxPeak(u.Samples), PeakRSSBytes: u.PeakRSS, ModelRSSBytes: modelRSS(u), FloorRSSBytes: u.FloorRSS, RSSIsolated: u.Isolated,
		MeanIOBytes: meanIO(u.Samples), Fallbacks: fallbacks(u.Samples), MeanStorageReads: meanReads(u.Samples),
		ResidentBytes: u.ResidentBytes, PreloadBytes: u.PreloadBytes,
	}
	var loss, gap float64
	var plan time.Duration
	var bound int64
	planned := 0
	for _, s := range u.Samples {
		if s.PredictedLatency > 0 && !s.Fallback {
			gap += s.Gap
			planned++
		}
		r.GapMax = max(r.GapMax, s.Gap)
		loss += s.PredictedLoss
		plan += s.Latency - s.Exec
		bound = max(bound, s.InFlightBound)
	}
	n := float64(len(u.Samples))
	r.PredictedLoss, r.PlanMS = loss/n, ms(plan)/n
	if planned > 0 {
		r.Gap = gap / float64(planned)
	}
	pred := make([]time.Duration, 0, len(u.Samples))
	ratios := make([]float64, 0, len(u.Samples))
	for _, s := range u.Samples {
		if s.PredictedLatency > 0 {
			pred = append(pred, s.PredictedLatency)
			ratios = append(ratios, float64(s.Latency)/float64(s.PredictedLatency))
		}
	}
	if len(pred) > 0 {
		r.PredictedP50MS, r.Overrun = ms(Summarize(pred).P50), stats.Quantile(ratios, 0.5)
	}
	r.WeightBoundBytes = u.ResidentBytes + u.Unit.Budget + bound
	within := r.PeakWeightBytes <= r.WeightBoundBytes
	r.WithinBound = &within
	return r
}

// comparePlanners gathers the WRX rows of each (target, budget) by planner.
func comparePlanners(rows []Row, planners []plan.Strategy) []PlannerRow {
	type key struct {
		t float64
		b int64
	}
	idx := map[key]int{}
	var out []PlannerRow
	for _, r := range rows {
		if r.Mode != ModeWRX || !slices.Contains(planners, r.Planner) {
			continue
		}
		k := key{r.TargetMS, r.BudgetBytes}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, PlannerRow{TargetMS: r.TargetMS, BudgetBytes: r.BudgetBytes, Planners: map[plan.Strategy]PlannerStats{}})
		}
		out[i].Planners[r.Planner] = PlannerStats{
			PredictedLoss: r.PredictedLoss, Accuracy: r.Accuracy, P95MS: r.P95MS,
			MissRate: r.MissRate, Fallbacks: r.Fallbacks, PlanMS: r.PlanMS,
		}
	}
	slices.SortFunc(out, func(x, y PlannerRow) int {
		return cmp.Or(cmp.Compare(x.BudgetBytes, y.BudgetBytes), cmp.Compare(x.TargetMS, y.TargetMS))
	})
	return out
}

func maxPeak(samples []Sample) int64 {
	var m int64
	for _, s := range samples {
		m = max(m, s.PeakWeightBytes)
	}
	return m
}

func meanIO(samples []Sample) float64 {
	var sum float64
	for _, s := range samples {
		sum += float64(s.IOBytes)
	}
	return sum / float64(max(len(samples), 1))
}

func meanReads(samples []Sample) float64 {
	var sum float64
	for _, s := range samples {
		sum += float64(s.StorageReads)
	}
	return sum / float64(max(len(samples), 1))
}

// modelRSS is the unit's measured model memory: its peak resident set
// above the floor, when it ran alone in its process.
func modelRSS(u *UnitResult) int64 {
	if !u.Isolated || u.FloorRSS <= 0 {
		return 0
	}
	return max(u.PeakRSS-u.FloorRSS, 0)
}

func refused(samples []Sample) int {
	n := 0
	for _, s := range samples {
		if s.Refused {
			n++
		}
	}
	return n
}

func fallbacks(samples []Sample) int {
	n := 0
	for _, s := range samples {
		if s.Fallback {
			n++
		}
	}
	return n
}

func throttleString(s *Setup) string {
	if s.Throttle == (Setup{}).Throttle {
		return "none"
	}
	return s.Throttle.String()
}

// loadAvg returns the 1, 5 and 15 minute load averages, or "" where
// /proc/loadavg does not exist.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// cachedRows is how many of ids need no word-row read with the rows of hot
// preloaded (plan.Request.CachedRows).
func cachedRows(ids []int, hot map[int]bool) int {
	return plan.CountCachedRows(ids, func(id int) bool { return hot[id] })
}
