package elastic

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// RunnerOptions configures NewRunner.
type RunnerOptions struct {
	// Target is the latency target.
	Target time.Duration
	// Budget is the memory the runner may take, in bytes: resident parts,
	// activations for MaxSeqLen tokens, scratch, the in-flight blob
	// buffers and the preload buffer (plan.Footprint, plan.Divide). A
	// budget below the footprint's minimum is a *plan.BudgetError naming
	// it. Zero means the minimum.
	Budget int64
	// MaxSeqLen is the longest request accepted, in tokens; zero means the
	// model's position limit. Activations are sized for it.
	MaxSeqLen int
	// Profiles feed the planner; Planner options choose its strategy.
	Profiles *plan.Profiles
	Planner  plan.Options
	// Calibration is how many warm-up requests of random tokens the runner
	// runs before serving, to measure how this device compares with its
	// profile right now (see Runner.Slack); 0 means DefaultCalibration,
	// a negative value none.
	Calibration int
	// BestEffort runs a request that no plan can answer in time with the
	// fastest plan that still runs a shard, and reports it late
	// (RunInfo.Late). The zero value refuses it with an error wrapping
	// plan.ErrDeadline, at once when the queue already makes it late.
	BestEffort bool
}

// DefaultCalibration is the number of warm-up requests NewRunner runs.
const DefaultCalibration = 16

// shortestRequest is the token count NewRunner checks a target against:
// [CLS], a word or two, [SEP].
const shortestRequest = 4

// Runner serves tokenized requests with the elastic pipeline: it plans
// every request for its length under the target and budget, and streams
// the planned shard versions around a resident preload set.
//
// A Runner is safe for concurrent use. Concurrent requests share one
// storage device, one set of cores and one budget, so they take turns, in
// arrival order, and each one's deadline counts from its arrival (see
// Run). Arrival order is earliest deadline first here: every request has
// the same target. A request that the queue ahead of it already makes
// late is refused at once (admission control) rather than making everyone
// after it late too.
type Runner struct {
	exec       *pipeline.Executor
	planner    plan.Planner
	target     time.Duration
	budget     int64
	preload    *plan.Preload
	bestEffort bool
	division   plan.Division
	maxLen     int

	device chan struct{} // holds a token while a request runs

	mu       sync.Mutex
	slack    float64         // the larger of the IO and compute slacks, ≥ 1 (see slack.go)
	drift    drift           // the IO and compute slacks
	planning []time.Duration // planning times of recent requests
	backlog  time.Duration   // predicted work of admitted requests not yet done
	// refusedBySlack counts the requests refused in a row that the
	// profile and the queue alone, without the slacks and the planning
	// reserve, would have admitted (see slackProbe).
	refusedBySlack int
	late           lateness // the recent requests' lateness (lateness.go)
}

// RunInfo describes one request: the executor's statistics and the plan
// it ran.
type RunInfo struct {
	pipeline.RunStats
	Plan *plan.Plan `json:"plan,omitempty"`
	// Total is the request's latency from its arrival to its logits:
	// tokenizing (when the caller gives the arrival), waiting for its
	// turn, planning, IO, compute and the head. RunStats.Latency is the
	// executor's part.
	Total time.Duration `json:"total_ns"`
	// Queued is how long it waited for its turn, Planning how long its
	// plan took.
	Queued   time.Duration `json:"queued_ns"`
	Planning time.Duration `json:"planning_ns"`
	// Late is set when no plan could meet the deadline and, with
	// BestEffort, the fastest plan that runs a shard ran instead.
	Late bool `json:"late,omitempty"`
}

// NewRunner prepares the elastic pipeline over store: the planner, its
// preload set, resident, and a calibration of the device's slack.
func NewRunner(ctx context.Context, store *shardstore.Store, be backend.Backend, opts RunnerOptions) (*Runner, error) {
	if opts.Profiles == nil {
		return nil, fmt.Errorf("elastic: the runner needs importance and device profiles (see package profile): %w", profile.ErrNoProfile)
	}
	if t, ok := be.(backend.Threaded); ok && opts.Profiles.Device != nil && opts.Profiles.Device.Threads > 0 && t.Threads() != opts.Profiles.Device.Threads {
		return nil, fmt.Errorf("elastic: the device profile was measured with %d compute threads, the backend has %d: its timings would not hold (profile the device again, or use %d threads)",
			opts.Profiles.Device.Threads, t.Threads(), opts.Profiles.Device.Threads)
	}
	if err := opts.Profiles.Validate(); err != nil {
		return nil, err
	}
	cfg := store.Config()
	maxLen := opts.MaxSeqLen
	if maxLen <= 0 || maxLen > cfg.MaxPosition {
		maxLen = cfg.MaxPosition
	}
	debug.FreeOSMemory() // what loading the profiles left
	div, pl, pre, err := DivideBudget(store, be, opts.Profiles, opts.Planner, opts.Target, opts.Budget, maxLen)
	if err != nil {
		return nil, err
	}
	// A target that not even the shortest requests can meet is refused
	// here, with the minimum, rather than on every request.
	// The most favourable request is the shortest with every word row
	// cached: each request's own is checked as it comes.
	if _, err := pl.Plan(plan.Request{Target: opts.Target, Budget: div.Preload, SeqLen: shortestRequest, Preload: pre, CachedRows: shortestRequest}); err != nil {
		return nil, err
	}
	ex, err := pipeline.NewExecutor(ctx, store, be, pipeline.ExecOptions{
		InFlight: div.InFlight,
		// At the depth the device profile's reads were measured at: its
		// latency and bandwidth are the effective ones at that depth. A
		// budget that leaves fewer in-flight buffers streams shallower,
		// slower than profiled; the IO slack the calibration measures
		// (Slack) covers the difference.
		ReadQueue: opts.Profiles.Device.ReadQueue,
		// The reads the planner timed merged are merged.
		MaxReadBytes: opts.Planner.MaxReadBytes,
		BlobBytes:    int(div.BlobBytes),
		MaxSeqLen:    maxLen,
		PreloadLimit: max(div.Preload, 1), // a zero budget preloads nothing
	})
	if err != nil {
		return nil, err
	}
	r := &Runner{exec: ex, planner: pl, preload: pre, target: opts.Target, budget: div.Preload, division: div, maxLen: maxLen,
		bestEffort: opts.BestEffort, slack: 1, device: make(chan struct{}, 1)}
	fail := func(err error) (*Runner, error) {
		ex.Close()
		return nil, err
	}
	if r.preload, err = fitHeld(ctx, ex, pl, opts.Target, div.Preload, pre); err != nil {
		return fail(err)
	}
	if err := r.calibrate(ctx, opts.Calibration); err != nil {
		return fail(err)
	}
	debug.FreeOSMemory() // the calibration's garbage, before the first request
	return r, nil
}

// fitHeld preloads pre, or a smaller set, within the preload's budget.
// The planner sizes a preload set by its blobs and word rows; decoded, its
// shards also hold scales, sums and outliers, and the 2-, 3-, 5- and 6-bit
// ones integer forms of up to a byte per weight (quant.Matrix.HeldBytes).
// The executor stops loading a set as soon as that crosses its limit
// (pipeline.HeldOverError), so the process never holds more; fitHeld then
// plans a set for a budget smaller by what the shards loaded held per byte
// of blob, and tries again.
func fitHeld(ctx context.Context, ex *pipeline.Executor, pl plan.Planner, target time.Duration, budget int64, pre *plan.Preload) (*plan.Preload, error) {
	// A smaller budget gets lower fidelities, which may hold more per
	// byte (2- and 3-bit codes spread into nibbles, 5- and 6-bit ones
	// into int8): each try takes the budget at least a sixth lower.
	const maxTries = 12
	shrunk := budget
	for range maxTries {
		if err := ex.SetRows(ctx, pre.Rows); err != nil {
			return nil, err
		}
		err := ex.SetPreload(ctx, pipeline.PreloadKeys(pre))
		var over *pipeline.HeldOverError
		if !errors.As(err, &over) {
			return pre, err
		}
		ratio := float64(over.Held) / float64(max(over.HeldBlobs, 1))
		shrunk = min(shrunk*5/6, int64(float64(budget)/(1+ratio)))
		// A refused set leaves no shard loaded (the executor drops what it
		// decoded); its memory is returned, so that the next set does not
		// count beside it in the peak resident set.
		debug.FreeOSMemory()
		if pre, err = pl.Preload(target, max(shrunk, 0)); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("elastic: no preload set fits its %s budget decoded after %d tries", units.FormatBytes(budget), maxTries)
}

// DivideBudget spends a total memory budget (see RunnerOptions.Budget;
// zero means the least that runs) for a runner over store computing with
// be at target that accepts up to maxLen tokens: it rates every division
// plan.Divide offers by the least predicted loss its planner finds for a
// request of the preload's reference length (Plan.BestLoss), and returns
// the best one with its planner and preload set; of the divisions within
// the planner's loss tolerance of the best, the one whose plan for that
// request reads the fewest bytes, as the planner chooses among plans.
func DivideBudget(store *shardstore.Store, be backend.Backend, prof *plan.Profiles, po plan.Options, target time.Duration, budget int64, maxLen int) (plan.Division, plan.Planner, *plan.Preload, error) {
	inFlight := po.InFlight
	if inFlight <= 0 {
		inFlight = plan.DefaultInFlight
	}
	foot := Footprint(store, be, prof.Geometry.Bits, maxLen, inFlight)
	if budget == 0 {
		budget = foot.Min()
	}
	// Only the best candidate so far is kept (Divide keeps the first of
	// equal scores, so this one keeps the first too): the others' tables
	// would otherwise stay live, and show in the peak resident set, until
	// the division is done.
	var (
		bestPl   plan.Planner
		bestPre  *plan.Preload
		bestBits quant.Fidelity
		bestLoss = math.Inf(1)
		failed   = map[quant.Fidelity]error{} // why a division could not plan
		rated    []ratedDivision
	)
	div, err := plan.Divide(budget, foot, inFlight, func(d plan.Division) float64 {
		// The searches leave garbage that would otherwise pile up to the
		// collector's goal and show in the process's peak resident set.
		defer debug.FreeOSMemory()
		pl, pre, err := divisionPlanner(prof, po, d, target)
		if err != nil {
			failed[d.StreamBits] = err
			return math.Inf(1)
		}
		// Scored on the request the preload set is chosen for, its
		// expected word rows cached: with none, on a device that serves
		// one 0.5 ms read at a time, 32 row reads alone refused every
		// division under 17.5 ms, though the preloaded rows spare most.
		n := cmp.Or(po.PreloadSeqLen, plan.DefaultPreloadSeqLen)
		p, err := pl.Plan(plan.Request{Target: target, Budget: d.Preload, SeqLen: n, Preload: pre, CachedRows: prof.Words.ExpectedHits(pre.Rows, n)})
		if err != nil {
			failed[d.StreamBits] = err
			return math.Inf(1)
		}
		rated = append(rated, ratedDivision{d, p.BestLoss, p.StreamedBytes()})
		if bestPl == nil || p.BestLoss < bestLoss {
			bestPl, bestPre, bestBits, bestLoss = pl, pre, d.StreamBits, p.BestLoss
		}
		return p.BestLoss
	})
	if err != nil {
		return plan.Division{}, nil, nil, fmt.Errorf("elastic: %w", err)
	}
	if bestPl == nil || bestBits != div.StreamBits {
		// The planner's errors name the smallest target that would work:
		// say the smallest of all the divisions'.
		var why error = plan.ErrDeadline
		var least time.Duration
		for _, err := range failed {
			var inf *plan.InfeasibleError
			if errors.As(err, &inf) && inf.MinTarget > 0 && (least == 0 || inf.MinTarget < least) {
				why, least = err, inf.MinTarget
			}
		}
		return plan.Division{}, nil, nil, fmt.Errorf("elastic: no division of the %s memory budget plans in time (its best: %w)", units.FormatBytes(budget), why)
	}
	tol := cmp.Or(po.LossTolerance, plan.DefaultLossTolerance)
	if tol <= 0 {
		return div, bestPl, bestPre, nil
	}
	fewest := ratedDivision{d: div, loss: bestLoss, bytes: math.MaxInt64}
	for _, r := range rated {
		if r.loss <= bestLoss+tol && r.bytes < fewest.bytes {
			fewest = r
		}
	}
	if fewest.d == div {
		return div, bestPl, bestPre, nil
	}
	// Planned again rather than kept from the rating, for the reason only
	// the best is kept (above).
	pl, pre, err := divisionPlanner(prof, po, fewest.d, target)
	if err != nil {
		return plan.Division{}, nil, nil, fmt.Errorf("elastic: %w", err)
	}
	return fewest.d, pl, pre, nil
}

// divisionPlanner is the planner of division d (its stream fidelities and
// in-flight buffers) and its preload set at target.
func divisionPlanner(prof *plan.Profiles, po plan.Options, d plan.Division, target time.Duration) (plan.Planner, *plan.Preload, error) {
	po.InFlight = d.InFlight
	pl, err := plan.New(prof.UpTo(d.StreamBits), po)
	if err != nil {
		return nil, nil, err
	}
	pre, err := pl.Preload(target, d.Preload)
	if err != nil {
		return nil, nil, err
	}
	return pl, pre, nil
}

// ratedDivision is a division DivideBudget rated: the least loss its
// planner found for the reference request and the bytes that request
// reads.
type ratedDivision struct {
	d     plan.Division
	loss  float64
	bytes int64
}

// Footprint is the memory a runner over store, computing with be, holds
// besides its preload buffer when it accepts sequences of up to maxLen
// tokens and streams up to inFlight blobs (0: plan.DefaultInFlight) at
// the given fidelities: the sizes of its resident blobs, of
// one pass's activations, of its scratch, and of the largest blob at or
// below each fidelity.
func Footprint(store *shardstore.Store, be backend.Backend, bits []quant.Fidelity, maxLen, inFlight int) plan.Footprint {
	cfg := store.Config()
	if inFlight <= 0 {
		inFlight = plan.DefaultInFlight
	}
	f := plan.Footprint{
		Resident:    store.ResidentBytesFor(maxLen),
		Activations: storage.AlignUp(4 * int64(bert.PassSize(cfg, maxLen))),
		Scratch:     pipeline.ScratchBytes(be, cfg, maxLen, inFlight),
		Bits:        slices.Clone(bits),
	}
	var largest, form int64
	for _, b := range bits {
		form = max(form, pipeline.FormBytes(cfg, b))
		f.Form = append(f.Form, form)
		for l := range cfg.Layers {
			for h := range cfg.Heads {
				for _, part := range []plan.Part{plan.Attention, plan.FFN} {
					largest = max(largest, int64(store.BufferSize(pipeline.Key(l, h, part, b))))
				}
			}
		}
		f.Blob = append(f.Blob, largest)
	}
	return f
}

// Division is how the runner spends its memory budget.
func (r *Runner) Division() plan.Division { return r.division }

// calibrate runs n requests of random tokens at typical lengths, so that
// the slack window holds measurements before the first real request.
func (r *Runner) calibrate(ctx context.Context, n int) error {
	if n == 0 {
		n = DefaultCalibration
	}
	cfg := r.exec.Config()
	lengths := []int{8, 16, 24, 32, 48}
	for i := range max(n, 0) {
		ids := make([]int, min(lengths[i%len(lengths)], r.maxLen))
		for j := range ids {
			ids[j] = 1000 + (i*7919+j*104729)%(cfg.VocabSize-1000)
		}
		if i%2 == 1 {
			debug.FreeOSMemory() // keep the warm-up's garbage out of the peak resident set
		}
		if _, _, err := r.run(ctx, time.Time{}, r.target, ids, nil, true); err != nil {
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

// planningWindow is how many recent planning times the runner keeps; it
// reserves their second largest from each request's target, since
// planning is part of the latency the target bounds (see
// planningReserve).
const planningWindow = 32

// Run serves one tokenized request that arrived at arrival (the zero time
// means now): its deadline is arrival + the target, so time spent before
// Run (tokenizing) and waiting for its turn counts. It returns an error
// wrapping plan.ErrDeadline when no plan that runs a shard can answer by
// the deadline, unless the runner is BestEffort.
func (r *Runner) Run(ctx context.Context, arrival time.Time, ids, typeIDs []int) ([]float32, RunInfo, error) {
	return r.run(ctx, arrival, r.target, ids, typeIDs, r.bestEffort)
}

// RunTarget serves one tokenized request as Run does, under target instead
// of the runner's target (0 means the runner's): its deadline is arrival +
// target. A target tighter than the runner's trades accuracy for latency;
// the preload set stays the one chosen for the runner's target.
func (r *Runner) RunTarget(ctx context.Context, arrival time.Time, target time.Duration, ids, typeIDs []int) ([]float32, RunInfo, error) {
	if target < 0 {
		return nil, RunInfo{}, fmt.Errorf("elastic: negative target %v", target)
	}
	if target == 0 {
		target = r.target
	}
	return r.run(ctx, arrival, target, ids, typeIDs, r.bestEffort)
}

func (r *Runner) run(ctx context.Context, arrival time.Time, target time.Duration, ids, typeIDs []int, bestEffort bool) ([]float32, RunInfo, error) {
	if arrival.IsZero() {
		arrival = time.Now()
	}
	var info RunInfo
	if len(ids) > r.maxLen {
		return nil, info, fmt.Errorf("elastic: request of %d tokens is longer than the %d the runner's memory is sized for", len(ids), r.maxLen)
	}
	req := plan.Request{Budget: r.budget, SeqLen: len(ids), Preload: r.preload, CachedRows: r.exec.CachedRows(ids), Scale: r.Slacks()}
	if len(ids) == 0 {
		return nil, info, fmt.Errorf("elastic: empty request: no tokens")
	}
	floor, err := plan.MinTargetFor(r.planner, req) // with the slacks
	if err != nil {
		return nil, info, err
	}

	// Admission: the queue ahead is at least its predicted work.
	reserve := r.planningReserve()
	var profiledFloor time.Duration // the floor without the slacks, when refused
	typical := false                // planned at the typical slacks (slack.go)
	if wait := time.Since(arrival) + reserve; !bestEffort && wait+floor > target {
		if ts := r.typicalSlacks(); ts != req.Scale {
			treq := req
			treq.Scale = ts
			if tf, err := plan.MinTargetFor(r.planner, treq); err == nil && wait+tf <= target {
				floor, typical = tf, true
			}
		}
		if !typical {
			base := req
			base.Scale = plan.Scale{}
			if profiledFloor, err = plan.MinTargetFor(r.planner, base); err != nil {
				return nil, info, err
			}
		}
	}
	r.mu.Lock()
	ahead := r.backlog
	wait := time.Since(arrival) + ahead
	admit := bestEffort || wait+reserve+floor <= target
	probe := false
	// A probe plans at the profile, and is refused only when the profile
	// and the queue alone miss the target: planning times kept from
	// before are as stale as the slacks (a refused request plans
	// nothing, so they would never be replaced).
	if !admit && profiledFloor > 0 && wait+profiledFloor <= target {
		if r.refusedBySlack++; r.refusedBySlack > slackProbe {
			admit, probe, floor = true, true, profiledFloor
		}
	}
	if admit {
		r.backlog += floor
		r.refusedBySlack = 0
	}
	r.mu.Unlock()
	if !admit {
		return nil, info, &DeadlineError{Target: target, Queued: ahead, Needed: floor, Err: &plan.InfeasibleError{
			Target: target - wait, Budget: r.budget, SeqLen: len(ids), MinTarget: floor, MinBudget: -1}}
	}
	defer func() {
		r.mu.Lock()
		r.backlog -= floor
		r.mu.Unlock()
	}()
	queued := time.Now()
	select {
	case r.device <- struct{}{}:
	case <-ctx.Done():
		return nil, info, fmt.Errorf("elastic: waiting for the device: %w", ctx.Err())
	}
	defer func() { <-r.device }()
	info.Queued = time.Since(queued)

	start := time.Now()
	req.Target = target - start.Sub(arrival) - r.planningReserve()
	req.Scale = r.Slacks() // the requests ahead may have changed them
	if typical {
		req.Scale = r.typicalSlacks()
	}
	if !probe {
		r.mu.Lock()
		req.Target = r.late.shorten(req.Target, target, floor)
		r.mu.Unlock()
	} else {
		// Planned at the profile, and without the kept planning times,
		// which may be as stale as the slacks.
		req.Target, req.Scale = target-start.Sub(arrival), plan.Scale{}
	}
	var p *plan.Plan
	if req.Target > 0 {
		p, err = r.planner.Plan(req)
	} else {
		// The fastest plan at the slacks now, which may have risen while
		// the request was queued: floor was found with those of then.
		minTarget, merr := plan.MinTargetFor(r.planner, req)
		if merr != nil {
			minTarget = 0
		}
		err = &plan.InfeasibleError{Target: req.Target, Budget: r.budget, SeqLen: len(ids), MinTarget: minTarget, MinBudget: -1}
	}
	var inf *plan.InfeasibleError
	if errors.As(err, &inf) && bestEffort && inf.MinTarget > 0 {
		// Too late for any plan: run the fastest, and say it is late.
		req.Target = inf.MinTarget
		p, err = r.planner.Plan(req)
		info.Late = true
	}
	info.Planning = time.Since(start)
	r.observePlanning(info.Planning, probe)
	if err != nil {
		if errors.Is(err, plan.ErrDeadline) {
			err = &DeadlineError{Target: target, Queued: info.Queued, Needed: floor, Err: err}
		}
		return nil, info, err
	}
	info.Plan = p
	logits, st, err := r.exec.Run(ctx, p, ids, typeIDs)
	info.RunStats = st
	info.Total = time.Since(arrival)
	if err == nil {
		r.mu.Lock()
		r.late.observe(info.Total > target)
		r.mu.Unlock()
		if probe {
			r.observeProbe(st, p)
		} else {
			r.observe(st, p)
		}
	}
	return logits, info, err
}

// DeadlineError says that a request could not be answered by its
// deadline: the queue ahead of it and the fastest plan for it need more
// than its target. It wraps plan.ErrDeadline.
type DeadlineError struct {
	Target time.Duration // the runner's target
	Queued time.Duration // the wait ahead of the request
	Needed time.Duration // the fastest plan that runs a shard, with the slacks
	Err    error         // the planner's *plan.InfeasibleError
}

func (e *DeadlineError) Error() string {
	if e.Queued > 0 {
		return fmt.Sprintf("elastic: %v target: %v of queued requests ahead and %v for the fastest plan: %v", e.Target, e.Queued.Round(time.Microsecond), e.Needed.Round(time.Microsecond), e.Err)
	}
	return fmt.Sprintf("elastic: %v target: %v", e.Target, e.Err)
}

// Unwrap returns the planner's error, which wraps plan.ErrDeadline.
func (e *DeadlineError) Unwrap() error { return e.Err }

// planningReserve is the time reserved for planning: the second longest
// of the recent planning times (the longest while there is one), so that
// a single slow one does not count. One first request at a 16 MB budget
// planned in 5.4 ms where the others took 0.1 ms; with the longest
// reserved, its 5 ms target refused the next 870 requests.
func (r *Runner) planningReserve() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first, second time.Duration
	for _, d := range r.planning {
		if d > first {
			first, second = d, first
		} else if d > second {
			second = d
		}
	}
	if len(r.planning) < 2 {
		return first
	}
	return second
}

// observePlanning adds a planning time to the window; a probe's (see
// slackProbe) starts it again.
func (r *Runner) observePlanning(d time.Duration, probe bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if probe {
		r.planning = r.planning[:0]
	}
	if len(r.planning) < planningWindow {
		r.planning = append(r.planning, d)
		return
	}
	copy(r.planning, r.planning[1:])
	r.planning[len(r.planning)-1] = d
}

// Close releases the runner's memory: the preload buffer and the
// executor's buffers. Requests in flight finish first; later ones fail.
func (r *Runner) Close() error { return r.exec.Close() }
