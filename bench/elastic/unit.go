package elasticbench

import (
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"

	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic"
	"github.com/wrxlabs/wrx/glue"
	"github.com/wrxlabs/wrx/internal/rss"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// DefaultMaxLen is the token limit inputs are encoded with when
// Setup.MaxLen is zero: the facade's default, and the one the importance
// profile was measured at.
const DefaultMaxLen = profile.DefaultProfileMaxLen

// Setup is what every measurement of a benchmark shares: the store and how
// it is read. The zero Backend, Direct and MaxLen are usable defaults.
type Setup struct {
	// Store is the shard store URI (file:PATH, badger:PATH, mem:NAME).
	Store string `json:"store"`
	// Backend names the tensor backend; empty means "native".
	Backend string `json:"backend,omitempty"`
	// Throttle emulates a slower storage device under the store; the zero
	// value is none.
	Throttle storage.ThrottleConfig `json:"throttle"`
	// Direct is how the store is opened. The zero value, DirectAuto, reads
	// with direct IO (no page cache) wherever the filesystem allows it, so
	// that every request's reads really come from the device.
	Direct storage.DirectIO `json:"direct"`
	// MaxLen truncates inputs to this many tokens; 0 means DefaultMaxLen.
	MaxLen int `json:"max_len,omitempty"`
	// StreamThreads is the native backend's threads in the modes that
	// stream while they compute (wrx, layerwise-pipeline); 0 means
	// pipeline.ComputeThreads. WRX needs a device profile measured with as
	// many.
	StreamThreads int `json:"stream_threads,omitempty"`
	// ReadBandwidth (bytes/s) and ReadLatency, when ReadBandwidth > 0,
	// replace the read side of the device profile WRX's planner uses. Run
	// sets them when a fresh measurement of the (throttled) storage
	// disagrees with the stored profile.
	ReadBandwidth float64       `json:"read_bandwidth,omitempty"`
	ReadLatency   time.Duration `json:"read_latency_ns,omitempty"`
	// MaxReadBytes, when positive, makes WRX merge the reads of adjacent
	// streamed blobs up to this many bytes, as its planner plans them
	// (plan.Options.MaxReadBytes).
	MaxReadBytes int64 `json:"max_read_bytes,omitempty"`
	// LossTolerance is WRX's plan.Options.LossTolerance: 0 means the
	// planner's default.
	LossTolerance float64 `json:"loss_tolerance,omitempty"`
}

func (s *Setup) backendName() string {
	if s.Backend == "" {
		return "native"
	}
	return s.Backend
}

// backend opens set's backend for mode: the native backend of the
// streaming modes computes on streamThreads.
func (s *Setup) backend(mode Mode) (backend.Backend, error) {
	var cfg backend.Config
	if overlapsIO(mode) && s.backendName() == "native" {
		cfg.Threads = s.streamThreads()
	}
	return backend.Open(s.backendName(), cfg)
}

func (s *Setup) streamThreads() int {
	if s.StreamThreads > 0 {
		return s.StreamThreads
	}
	return pipeline.ComputeThreads()
}

func (s *Setup) maxLen() int {
	if s.MaxLen <= 0 {
		return DefaultMaxLen
	}
	return s.MaxLen
}

// Unit is one measurement: one mode serving every example once. A
// baseline is measured once at one fidelity; WRX once per (planner, target,
// budget).
type Unit struct {
	Mode Mode `json:"mode"`
	// Fidelity is the baselines' bitwidth; WRX ignores it.
	Fidelity quant.Fidelity `json:"fidelity,omitempty"`
	// Planner, Target and Budget configure WRX; the baselines ignore them.
	Planner plan.Strategy `json:"planner,omitempty"`
	Target  time.Duration `json:"target_ns,omitempty"`
	Budget  int64         `json:"budget_bytes,omitempty"`
	// Limit, when positive, serves only the first Limit examples.
	Limit int `json:"limit,omitempty"`
}

// String names the unit in logs, e.g. "wrx/optimal T=20ms B=4.00MB" or
// "load-then-exec@32".
func (u Unit) String() string {
	if u.Mode == ModeWRX {
		return fmt.Sprintf("wrx/%s T=%v B=%s", u.Planner, u.Target, units.FormatBytes(u.Budget))
	}
	return fmt.Sprintf("%s@%d", u.Mode, int(u.Fidelity))
}

// Sample is what one request did.
type Sample struct {
	// Line is the example's line in its file; it identifies the example.
	Line   int `json:"line"`
	Tokens int `json:"tokens"`
	Label  int `json:"label"`
	Pred   int `json:"pred"`
	// Latency is the wall time of the request from its text to its
	// logits: tokenizing, planning (in WRX mode) and execution.
	Latency time.Duration `json:"latency_ns"`
	// Exec is the executor's part of it (pipeline.RunStats.Latency).
	Exec            time.Duration `json:"exec_ns"`
	IOBytes         int64         `json:"io_bytes"`
	PeakWeightBytes int64         `json:"peak_weight_bytes"`
	InFlightBytes   int64         `json:"in_flight_bytes"`
	// StorageReads is how many storage reads brought the shard blobs in
	// (pipeline.RunStats.StorageReads).
	StorageReads int `json:"storage_reads"`
	// WRX only: whether no plan could answer the request in time, so it
	// was refused (it counts as a miss and a wrong answer), whether it ran
	// late with BestEffort, and the plan's predictions and in-flight
	// bound.
	Refused          bool          `json:"refused,omitempty"`
	Fallback         bool          `json:"fallback,omitempty"`
	PredictedLatency time.Duration `json:"predicted_latency_ns,omitempty"`
	PredictedLoss    float64       `json:"predicted_loss,omitempty"`
	InFlightBound    int64         `json:"in_flight_bound_bytes,omitempty"`
	// Scale is what the plan stretched the profile's read and compute
	// times by (the runner's slacks, plan.Scale), ProfiledLatency its
	// latency at the profile, and IOTime and ComputeTime what the
	// executor measured of each part: they show how far the timing
	// model was from the request.
	Scale           plan.Scale    `json:"scale"`
	ProfiledLatency time.Duration `json:"profiled_latency_ns,omitempty"`
	IOTime          time.Duration `json:"io_ns,omitempty"`
	ComputeTime     time.Duration `json:"compute_ns,omitempty"`
	// PredictedIO and PredictedCompute are the plan's parts, stretched
	// by Scale.
	PredictedIO      time.Duration `json:"predicted_io_ns,omitempty"`
	PredictedCompute time.Duration `json:"predicted_compute_ns,omitempty"`
	// Gap is the plan's gap to the planner's lower bound on the loss of
	// any plan for the request (plan.LowerBound), computed after the
	// request, off its clock.
	Gap float64 `json:"gap,omitempty"`
}

// UnitResult is a measured unit.
type UnitResult struct {
	Unit    Unit     `json:"unit"`
	Samples []Sample `json:"samples"`
	// PeakRSS is the process's peak resident set (VmHWM) at the end of the
	// unit and StartRSS its resident set before the store was opened.
	// They describe this unit alone only when Isolated: the unit ran in a
	// process of its own.
	PeakRSS  int64 `json:"peak_rss_bytes"`
	StartRSS int64 `json:"start_rss_bytes"`
	// FloorRSS is its resident set once the store's manifest and tokenizer
	// are loaded and no weights are: the runtime floor the memory budget
	// is counted above.
	FloorRSS int64 `json:"floor_rss_bytes"`
	// Division is how a WRX unit spent its budget.
	Division *plan.Division `json:"division,omitempty"`
	Isolated bool           `json:"isolated"`
	// Direct says whether the store read with direct IO.
	Direct        bool  `json:"direct_io"`
	ResidentBytes int64 `json:"resident_bytes"`
	PreloadBytes  int64 `json:"preload_bytes"`
	// Setup is how long opening the store and preparing the mode took
	// (loading the resident model or the preload set), not timed per
	// request.
	Setup time.Duration `json:"setup_ns"`
}

// Job is everything a Measurer needs for one unit.
type Job struct {
	Setup    Setup          `json:"setup"`
	Unit     Unit           `json:"unit"`
	Examples []glue.Example `json:"examples"`
}

// A Measurer measures units. Measure runs them in this process; Subprocess
// runs each in a child process, so that each gets its own peak RSS.
type Measurer interface {
	Measure(ctx context.Context, job *Job) (*UnitResult, error)
}

// InProcess is the Measurer that calls Measure.
type InProcess struct{}

// Measure implements Measurer.
func (InProcess) Measure(ctx context.Context, job *Job) (*UnitResult, error) {
	return Measure(ctx, job)
}

// Measure runs one unit in this process: it opens the store as job.Setup
// says, prepares the mode (the baselines' resident model, or WRX's planner
// and preload set), serves one untimed warm-up request, then every example
// once, in order. Each request starts cold: only the resident parts and the
// preload buffer (the whole model for hold-in-memory) stay in memory between
// requests, and with direct IO every read reaches the device.
func Measure(ctx context.Context, job *Job) (*UnitResult, error) {
	u, set := job.Unit, &job.Setup
	res := &UnitResult{Unit: u, StartRSS: rss.Current()}
	examples := job.Examples
	if u.Limit > 0 && u.Limit < len(examples) {
		examples = examples[:u.Limit]
	}
	if len(examples) == 0 {
		return nil, fmt.Errorf("%v: no examples", u)
	}
	start := time.Now()
	s, direct, err := openStore(ctx, set)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", u, err)
	}
	defer s.Close()
	res.Direct = direct
	tok, err := s.Tokenizer()
	if err != nil {
		return nil, fmt.Errorf("%v: %w", u, err)
	}
	encs, err := encodeAll(tok, examples, set.maxLen())
	if err != nil {
		return nil, fmt.Errorf("%v: %w", u, err)
	}
	// The bench's own bookkeeping is made before the floor is measured,
	// so that it is not counted as the mode's memory.
	res.Samples = make([]Sample, 0, len(examples))
	keys := make([][2]int, 0, len(examples))
	// The program's code is made resident before the floor (as the wrx
	// command does), or the code a first request runs would be counted as
	// the mode's memory.
	if err := rss.LoadProgram(); err != nil {
		return nil, fmt.Errorf("%v: %w", u, err)
	}
	res.FloorRSS = rss.Current()
	restoreGC := rss.LimitOpening() // as the wrx command does
	defer restoreGC()
	be, err := set.backend(u.Mode)
	if err != nil {
		return nil, err
	}
	var r server
	var prof *plan.Profiles
	if u.Mode == ModeWRX {
		prof, err = loadProfiles(ctx, s, be, set)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", u, err)
		}
		r, err = elastic.NewRunner(ctx, s, be, elastic.RunnerOptions{
			Target: u.Target, Budget: u.Budget, MaxSeqLen: set.maxLen(), Profiles: prof, Planner: plan.Options{Strategy: u.Planner, MaxReadBytes: set.MaxReadBytes, LossTolerance: set.LossTolerance}})
		if errors.Is(err, plan.ErrDeadline) || errors.Is(err, plan.ErrBudget) {
			// No request can meet this target, or the budget cannot hold
			// the model's minimum: every one is refused, a miss and a
			// wrong answer, as the runner would refuse it.
			for _, ex := range examples {
				res.Samples = append(res.Samples, Sample{Line: ex.Line, Label: ex.Label, Pred: -1, Refused: true})
			}
			res.Setup = time.Since(start)
			res.PeakRSS = rss.Peak()
			return res, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%v: %w", u, err)
		}
	} else if r, err = newBaseline(ctx, s, be, u.Mode, u.Fidelity); err != nil {
		return nil, fmt.Errorf("%v: %w", u, err)
	}
	res.ResidentBytes = r.ResidentBytes()
	res.PreloadBytes = r.PreloadBytes()
	if w, ok := r.(*elastic.Runner); ok {
		d := w.Division()
		res.Division = &d
	}
	// As the wrx command does: the collector keeps the requests' garbage
	// within a small headroom instead of letting the heap double.
	restoreGC()
	rss.LimitHeap(rss.HeapHeadroom)
	// The first request pays one-time costs (thread start-up, first
	// allocations) that are not the mode's; it is served and dropped.
	if _, _, err := r.Run(ctx, time.Time{}, encs[0].InputIDs, encs[0].TokenTypeIDs); err != nil && !errors.Is(err, plan.ErrDeadline) {
		return nil, fmt.Errorf("%v: warm-up on line %d: %w", u, examples[0].Line, err)
	}
	res.Setup = time.Since(start)
	// The planner's gap to its bound is computed once per sequence length
	// and cached rows (the unit fixes the rest), after the peak RSS is
	// measured: the bound's tables are the bench's memory, not the mode's.
	// Until then a summary of the first plan of each is kept.
	bounded := map[[2]int]*plan.Plan{}
	var preload []plan.ShardVersion
	for _, ex := range examples {
		// Latency is from text to answer: tokenizing counts.
		t := time.Now()
		enc, err := tok.Encode(ex.Text, ex.Pair, set.maxLen())
		if err != nil {
			return nil, fmt.Errorf("%v: line %d: %w", u, ex.Line, err)
		}
		logits, info, err := r.Run(ctx, t, enc.InputIDs, enc.TokenTypeIDs)
		lat := time.Since(t)
		if errors.Is(err, plan.ErrDeadline) {
			res.Samples = append(res.Samples, Sample{Line: ex.Line, Tokens: len(enc.InputIDs), Label: ex.Label, Pred: -1, Latency: lat, Refused: true})
			keys = append(keys, [2]int{-1, -1})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%v: line %d: %w", u, ex.Line, err)
		}
		key := [2]int{-1, -1}
		sm := Sample{
			Line: ex.Line, Tokens: len(enc.InputIDs), Label: ex.Label, Pred: argmax(logits),
			Latency: lat, Exec: info.Latency, IOBytes: info.IOBytes,
			PeakWeightBytes: info.PeakWeightBytes, InFlightBytes: info.InFlightBytes, Fallback: info.Late,
			StorageReads: info.StorageReads, IOTime: info.IOTime, ComputeTime: info.ComputeTime,
		}
		if p := info.Plan; p != nil {
			sm.PredictedLatency, sm.PredictedLoss, sm.InFlightBound = p.PredictedLatency, p.PredictedLoss, p.InFlightBytes
			sm.Scale, sm.ProfiledLatency = p.Scale, p.ProfiledLatency
			sm.PredictedIO, sm.PredictedCompute = p.PredictedIO, p.PredictedCompute
			k := [2]int{p.SeqLen, p.CachedRows}
			if _, ok := bounded[k]; !ok && !info.Late {
				b := *p
				b.Layers, b.IO = nil, nil // the bound needs neither
				if preload == nil {
					preload = p.Preload
				}
				b.Preload = preload // the runner's, the same in every plan
				bounded[k] = &b
			}
			if !info.Late {
				key = k
			}
		}
		res.Samples = append(res.Samples, sm)
		keys = append(keys, key)
	}
	res.PeakRSS = rss.Peak()
	gaps := make(map[[2]int]float64, len(bounded))
	for k, p := range bounded {
		lb, err := plan.LowerBound(prof, p)
		if err != nil {
			return nil, fmt.Errorf("%v: the bound of a plan for %d tokens, %d cached rows: %w", u, k[0], k[1], err)
		}
		p.LossBound = &lb
		gaps[k] = p.Gap()
	}
	for i, k := range keys {
		if k[0] >= 0 {
			res.Samples[i].Gap = gaps[k]
		}
	}
	return res, nil
}

// openStore opens the shard store of set: its storage with set.Direct,
// wrapped in set.Throttle. It reports whether reads bypass the page cache.
func openStore(ctx context.Context, set *Setup) (*shardstore.Store, bool, error) {
	st, err := storage.OpenWith(ctx, set.Store, storage.OpenOptions{Direct: set.Direct})
	if err != nil {
		return nil, false, err
	}
	d, ok := st.(interface{ Direct() bool })
	direct := ok && d.Direct()
	if set.Throttle != (storage.ThrottleConfig{}) {
		st = storage.Throttle(st, set.Throttle)
	}
	s, err := shardstore.Open(ctx, st)
	if err != nil {
		st.Close()
		return nil, false, fmt.Errorf("%s: %w", set.Store, err)
	}
	return s, direct, nil
}

// loadProfiles loads the planner's profiles for set's backend and
// throttle, with set's measured read side when it has one.
func loadProfiles(ctx context.Context, s *shardstore.Store, be backend.Backend, set *Setup) (*plan.Profiles, error) {
	prof, err := profile.LoadProfiles(ctx, set.Store, s, be, set.Throttle)
	if err != nil {
		return nil, err
	}
	if set.ReadBandwidth > 0 {
		prof.Device = prof.Device.WithReads(set.ReadBandwidth, set.ReadLatency)
	}
	return prof, nil
}

func encodeAll(tok *bert.Tokenizer, examples []glue.Example, maxLen int) ([]bert.Encoding, error) {
	out := make([]bert.Encoding, len(examples))
	for i, ex := range examples {
		enc, err := tok.Encode(ex.Text, ex.Pair, maxLen)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", ex.Line, err)
		}
		out[i] = enc
	}
	return out, nil
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// overlapsIO reports whether mode streams while it computes: such modes
// compute on pipeline.ComputeThreads, leaving a core to their IO goroutine.
// The others (hold-in-memory, load-then-exec) compute with every thread.
func overlapsIO(m Mode) bool { return m == ModeWRX || m == ModeLayerwise }
