package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/wrxlabs/wrx/internal/freelist"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/quant"
)

// Strategy names a planning algorithm.
type Strategy string

// The planning algorithms.
const (
	// StrategyGreedy is the paper's two-pass planner (STI): stage 1 keeps
	// the most important shards whose compute fits, stage 2 starts them at
	// the lowest fidelity with the first layers preloaded and upgrades the
	// shards with the best loss reduction per byte while the deadline
	// holds.
	StrategyGreedy Strategy = "greedy"
	// StrategyOptimal is our optimizer: a marginal-latency search over
	// every shard's options (drop, each fidelity, resident) combined with
	// the paper's planner, and a resident set chosen by planning with a
	// family of candidates; see plan_optimal.go. It is the default.
	StrategyOptimal Strategy = "optimal"
)

// Strategies lists the planning algorithms, the default first.
func Strategies() []Strategy { return []Strategy{StrategyOptimal, StrategyGreedy} }

// ParseStrategy parses a strategy name; the empty name is the default.
func ParseStrategy(name string) (Strategy, error) {
	switch Strategy(name) {
	case "":
		return StrategyOptimal, nil
	case StrategyGreedy, StrategyOptimal:
		return Strategy(name), nil
	}
	return "", fmt.Errorf("plan: unknown planner %q (want one of %v)", name, Strategies())
}

// RowReads says how the executor reads a request's word-embedding rows.
type RowReads uint8

// Ways of reading the embedding rows.
const (
	// RowReadsEach reads every row with its own request (S reads). It is
	// the zero value because it is the conservative assumption.
	RowReadsEach RowReads = iota
	// RowReadsBatched reads all rows with one request.
	RowReadsBatched
)

// String returns "each" or "batched".
func (r RowReads) String() string {
	if r == RowReadsBatched {
		return "batched"
	}
	return "each"
}

// MarshalText encodes r as its name.
func (r RowReads) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses "each" or "batched".
func (r *RowReads) UnmarshalText(b []byte) error {
	switch string(b) {
	case "each":
		*r = RowReadsEach
	case "batched":
		*r = RowReadsBatched
	default:
		return fmt.Errorf("plan: unknown embedding row read mode %q (want each or batched)", b)
	}
	return nil
}

// DefaultInFlight is K, the number of blobs the executor buffers, when
// Options.InFlight is zero: enough for IO to run ahead of a layer's
// attention half while holding only a few shards.
const DefaultInFlight = 4

// DefaultPreloadSeqLen is the reference sequence length Preload plans at
// when Options.PreloadSeqLen is zero (SST-2 sentences are mostly shorter).
const DefaultPreloadSeqLen = 32

// Options configures a planner. The zero value is the optimizer with the
// defaults below.
type Options struct {
	// Strategy selects the algorithm; empty means StrategyOptimal.
	Strategy Strategy
	// InFlight is K, the number of blobs the executor buffers; zero means
	// DefaultInFlight.
	InFlight int
	// RowReads says how the executor reads embedding rows.
	RowReads RowReads
	// PreloadSeqLen is the sequence length the preload set is chosen at;
	// zero means DefaultPreloadSeqLen.
	PreloadSeqLen int
	// MaxLoss, when positive, rejects plans whose predicted loss exceeds
	// it. Zero accepts any plan, even one that drops every shard.
	MaxLoss float64
	// LossTolerance is how close two predicted losses must be to count as
	// equal: of the plans within it of the best one found, Plan returns
	// one that reads fewer bytes (see DefaultLossTolerance). Zero means
	// DefaultLossTolerance; a negative value returns the lowest loss found
	// whatever it reads.
	LossTolerance float64
	// MaxReadBytes is the executor's ExecOptions.MaxReadBytes: when
	// positive and the store lays its blobs out contiguously
	// (Geometry.Contiguous), a run of streamed blobs that lie back to
	// back is one read of at most this many bytes and InFlight blobs,
	// which pays the read latency once, and plans read a layer's streamed
	// shards by fidelity, then head, so that such runs are long.
	MaxReadBytes int64
	// Bound makes Plan also compute Plan.LossBound, a lower bound on the
	// loss of any plan for the request, at some extra planning time.
	Bound bool
}

// Request is one planning problem.
type Request struct {
	// Target is the latency target T.
	Target time.Duration
	// Budget is B, the most bytes the preload buffer may hold.
	Budget int64
	// SeqLen is the request's length in tokens.
	SeqLen int
	// Preload is the resident set. Nil means the planner chooses it with
	// Preload(Target, Budget) first.
	Preload *Preload
	// CachedRows is how many of the request's tokens need no word-row
	// read: their rows are in the preload buffer, or they repeat an
	// earlier token. The planner charges SeqLen − CachedRows row reads, so
	// the zero value is the conservative one.
	CachedRows int
	// Scale stretches the device profile's times for this request: read
	// times by Scale.IO, compute times by Scale.Compute, as measured by a
	// caller that tracks how the device runs now (see elastic.Runner).
	// The zero value plans with the profile as measured. The preload set
	// is not re-chosen for it.
	Scale Scale
}

// Scale multiplies the times of a device profile: a device that reads at
// half its profiled bandwidth has an IO scale of about 2 (less when the
// fixed per-read latency dominates). Zero fields mean 1.
type Scale struct {
	// IO multiplies every read time: word rows and streamed blobs.
	IO float64 `json:"io,omitempty"`
	// Compute multiplies every compute time: embedding, layers, head.
	Compute float64 `json:"compute,omitempty"`
}

// io is the IO factor, 1 for zero.
func (s Scale) io() float64 {
	if s.IO == 0 {
		return 1
	}
	return s.IO
}

// compute is the compute factor, 1 for zero.
func (s Scale) compute() float64 {
	if s.Compute == 0 {
		return 1
	}
	return s.Compute
}

// validate refuses a negative or non-finite factor.
func (s Scale) validate() error {
	if s.IO < 0 || !finite(s.IO) || s.Compute < 0 || !finite(s.Compute) {
		return fmt.Errorf("plan: scale %+v: the factors must be finite and nonnegative", s)
	}
	return nil
}

// Planner plans requests. Implementations are pure and deterministic: the
// same inputs always give the identical plan. They are safe for concurrent
// use.
type Planner interface {
	// Preload chooses the shard versions to keep resident for (target,
	// budget). It depends on nothing else, so the set can stay resident
	// across requests; it is chosen at Options.PreloadSeqLen.
	Preload(target time.Duration, budget int64) (*Preload, error)
	// Plan plans one request. It returns an *InfeasibleError when no plan
	// meets the request.
	Plan(req Request) (*Plan, error)
}

// ShardVersion names a shard at one fidelity, with its size (both blobs).
type ShardVersion struct {
	Layer int            `json:"layer"`
	Head  int            `json:"head"`
	Bits  quant.Fidelity `json:"bits"`
	Bytes int64          `json:"bytes"`
}

// Preload is the set of shard versions kept resident between requests.
type Preload struct {
	// Target, Budget and SeqLen are what the set was chosen for.
	Target time.Duration `json:"target_ns"`
	Budget int64         `json:"budget_bytes"`
	SeqLen int           `json:"seq_len"`
	// Shards is ordered by layer, then head.
	Shards []ShardVersion `json:"shards"`
	// Rows are the token ids whose word rows the buffer keeps, sorted;
	// RowBytes is their memory.
	Rows     []int `json:"rows,omitempty"`
	RowBytes int64 `json:"row_bytes,omitempty"`
	// Bytes is the memory Shards and Rows take: the shards' blobs and what
	// they hold decoded (BlobSizes.Held), and the rows; it is at most
	// Budget.
	Bytes int64 `json:"bytes"`
}

// ShardChoice is one shard a plan runs.
type ShardChoice struct {
	Head int            `json:"head"`
	Bits quant.Fidelity `json:"bits"`
	// Preloaded is true when the resident version is used, so the shard
	// is not read.
	Preloaded bool `json:"preloaded,omitempty"`
}

// LayerPlan is a plan's choice for one layer and its predicted compute
// window.
type LayerPlan struct {
	Layer int `json:"layer"`
	// Shards is in compute order, which both halves of the layer follow:
	// the preloaded shards, then the streamed ones in the order the IO
	// stream reads them; heads not listed are dropped.
	Shards []ShardChoice `json:"shards"`
	// Start is when the layer's first computation starts, Finish when its
	// last ends, both measured from the request's start.
	Start  time.Duration `json:"start_ns"`
	Finish time.Duration `json:"finish_ns"`
}

// Part is one of a shard's two blobs: the FFN half of a layer needs the
// normalised output of its whole attention half, so a shard's attention
// part is read and computed before its FFN part.
type Part uint8

// The parts of a shard.
const (
	Attention Part = iota
	FFN
)

// String is "attn" or "ffn", as in plans printed as JSON.
func (p Part) String() string {
	if p == FFN {
		return "ffn"
	}
	return "attn"
}

// BlobRead is one read of the IO stream.
type BlobRead struct {
	Layer int
	Head  int
	Part  Part
	Bits  quant.Fidelity
	Bytes int64
}

type blobReadJSON struct {
	Layer int            `json:"layer"`
	Head  int            `json:"head"`
	Part  string         `json:"part"`
	Bits  quant.Fidelity `json:"bits"`
	Bytes int64          `json:"bytes"`
}

// MarshalJSON writes the part as "attn" or "ffn".
func (b BlobRead) MarshalJSON() ([]byte, error) {
	return json.Marshal(blobReadJSON{b.Layer, b.Head, b.Part.String(), b.Bits, b.Bytes})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (b *BlobRead) UnmarshalJSON(data []byte) error {
	var j blobReadJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	switch j.Part {
	case "attn":
		b.Part = Attention
	case "ffn":
		b.Part = FFN
	default:
		return fmt.Errorf("plan: blob read part %q is not attn or ffn", j.Part)
	}
	b.Layer, b.Head, b.Bits, b.Bytes = j.Layer, j.Head, j.Bits, j.Bytes
	return nil
}

// Plan is the schedule of one request.
type Plan struct {
	Strategy Strategy      `json:"strategy"`
	Target   time.Duration `json:"target_ns"`
	Budget   int64         `json:"budget_bytes"`
	SeqLen   int           `json:"seq_len"`
	RowReads RowReads      `json:"row_reads"`
	// CachedRows is the request's tokens that read no word row.
	CachedRows int `json:"cached_rows,omitempty"`
	// Layers holds every layer, in order; a layer may run no shard.
	Layers []LayerPlan `json:"layers"`
	// IO is the stream of blob reads, in order (embedding rows, which are
	// read first, are not listed).
	IO []BlobRead `json:"io"`
	// Preload is the resident set the plan was made with (possibly not all
	// of it used), ordered by layer and head.
	Preload []ShardVersion `json:"preload"`
	// PreloadRows is how many word rows the preload buffer holds.
	PreloadRows  int   `json:"preload_rows,omitempty"`
	PreloadBytes int64 `json:"preload_bytes"`
	// MaxReadBytes, when positive, is the merged read size the plan was
	// timed with (Options.MaxReadBytes): its IO reads runs of adjacent
	// blobs with one read each.
	MaxReadBytes int64 `json:"max_read_bytes,omitempty"`
	// InFlightBlobs is K, the most blobs the executor may buffer, and
	// InFlightBytes bounds their memory: K × the largest blob in IO. Peak
	// resident weight memory is at most PreloadBytes + InFlightBytes.
	InFlightBlobs int   `json:"in_flight_blobs"`
	InFlightBytes int64 `json:"in_flight_bytes"`
	// PredictedLatency is the timing model's latency, at most Target.
	PredictedLatency time.Duration `json:"predicted_latency_ns"`
	// PredictedIO is the time the model has the storage device busy: the
	// word rows' reads and every read of IO. PredictedCompute is the
	// model's compute: the embedding, each layer's shards and fixed part,
	// and the head. Latency is at least the larger and at most their sum;
	// a caller compares them with what a run measured (see
	// pipeline.RunStats) to tell a slower device from busier cores.
	PredictedIO      time.Duration `json:"predicted_io_ns"`
	PredictedCompute time.Duration `json:"predicted_compute_ns"`
	// Scale is the request's Scale, which every prediction includes.
	// ProfiledLatency is PredictedLatency without it: what the device
	// profile alone predicts.
	Scale           Scale         `json:"scale,omitzero"`
	ProfiledLatency time.Duration `json:"profiled_latency_ns"`
	// PredictedLoss is the sum of the per-shard losses of the plan's
	// choices (Dropped for the shards it does not run).
	PredictedLoss float64 `json:"predicted_loss"`
	// BestLoss is the least predicted loss the planner found for the
	// request, before it traded loss within Options.LossTolerance for
	// fewer bytes read: PredictedLoss when it traded none. Plans for
	// different resident sets or budgets compare by it, since the trade
	// makes every plan that finds a loss near zero come out near the
	// tolerance.
	BestLoss float64 `json:"best_loss"`
	// LossBound, when Options.Bound is set, is a lower bound on the
	// predicted loss of every plan for the same request and resident set
	// (see LowerBound); Gap compares the plan with it.
	LossBound *float64 `json:"loss_bound,omitempty"`
}

// ErrDeadline means that no plan can answer a request by its deadline.
// An *InfeasibleError wraps it and says what target would do.
var ErrDeadline = errors.New("deadline cannot be met")

// InfeasibleError says that no plan meets a request, and what would.
type InfeasibleError struct {
	Target time.Duration
	Budget int64
	SeqLen int
	// MaxLoss is the loss ceiling in force (0: none).
	MaxLoss float64
	// MinTarget is the smallest target that is feasible with this budget
	// (and this preload, when the request fixed one); 0 when no target is.
	MinTarget time.Duration
	// MinBudget is the smallest budget that is feasible at this target, or
	// -1 when no budget is (or, for a request with a fixed preload, when the
	// budget is not what limits it).
	MinBudget int64
}

// Unwrap makes errors.Is(err, ErrDeadline) true.
func (e *InfeasibleError) Unwrap() error { return ErrDeadline }

func (e *InfeasibleError) Error() string {
	s := fmt.Sprintf("plan: no plan meets target %v with budget %s at sequence length %d", e.Target, units.FormatBytesExact(e.Budget), e.SeqLen)
	if e.MaxLoss > 0 {
		s += fmt.Sprintf(" and loss ≤ %g", e.MaxLoss)
	}
	if e.MinTarget > 0 {
		s += fmt.Sprintf(": the smallest feasible target is %v", e.MinTarget)
	} else {
		s += ": no target is feasible"
	}
	if e.MinBudget >= 0 {
		s += fmt.Sprintf("; at %v the smallest feasible budget is %s", e.Target, units.FormatBytesExact(e.MinBudget))
	}
	return s
}

// New returns a planner for the given profiles.
func New(prof *Profiles, opts Options) (Planner, error) {
	if err := prof.Validate(); err != nil {
		return nil, err
	}
	strat, err := ParseStrategy(string(opts.Strategy))
	if err != nil {
		return nil, err
	}
	opts.Strategy = strat
	if opts.InFlight < 0 {
		return nil, fmt.Errorf("plan: in-flight blob count %d is negative", opts.InFlight)
	}
	if opts.InFlight == 0 {
		opts.InFlight = DefaultInFlight
	}
	if opts.PreloadSeqLen < 0 {
		return nil, fmt.Errorf("plan: preload sequence length %d is negative", opts.PreloadSeqLen)
	}
	if opts.PreloadSeqLen == 0 {
		opts.PreloadSeqLen = DefaultPreloadSeqLen
	}
	if opts.MaxLoss < 0 || !finite(opts.MaxLoss) {
		return nil, fmt.Errorf("plan: loss ceiling %v is not a nonnegative number", opts.MaxLoss)
	}
	if !finite(opts.LossTolerance) {
		return nil, fmt.Errorf("plan: loss tolerance %v is not a number", opts.LossTolerance)
	}
	if opts.LossTolerance == 0 {
		opts.LossTolerance = DefaultLossTolerance
	}
	if opts.MaxReadBytes < 0 {
		return nil, fmt.Errorf("plan: merged read size %d bytes is negative", opts.MaxReadBytes)
	}
	if opts.RowReads > RowReadsBatched {
		return nil, fmt.Errorf("plan: unknown embedding row read mode %d", opts.RowReads)
	}
	pl := &planner{st: newStatic(prof.atDepth(opts.InFlight)), opts: opts}
	pl.scratches.Max = 4
	switch strat {
	case StrategyGreedy:
		pl.algo = greedyAlgo{}
	default:
		pl.algo = optimalAlgo{}
	}
	return pl, nil
}

// algorithm is what a strategy implements on the internal problem form.
type algorithm interface {
	// plan returns the best assignment it finds whose simulated latency is
	// at most target, using the resident versions res; nil when even
	// dropping every shard misses the target.
	plan(p *problem, target int64, res []int8) []int16
	// preload returns the resident set for (target, budget) at p's
	// sequence length.
	preload(p *problem, target, budget int64) []int8
}

type planner struct {
	st   *static
	opts Options
	algo algorithm
	// scratches are kept for the planning calls of requests; more than
	// two at once is rare (a request planning while another finds its
	// minimum target).
	scratches freelist.List[*scratch]
}

// scratch returns a planning scratch with nothing handed out.
func (pl *planner) scratch() *scratch {
	if w, ok := pl.scratches.Get(); ok {
		w.reset()
		return w
	}
	return new(scratch)
}

// release keeps w for a later call, unless it grew too large to keep.
func (pl *planner) release(w *scratch) {
	if w.bytes() <= maxScratchBytes {
		pl.scratches.Put(w)
	}
}

func (pl *planner) Preload(target time.Duration, budget int64) (*Preload, error) {
	if target <= 0 {
		return nil, fmt.Errorf("plan: target %v is not positive", target)
	}
	if budget < 0 {
		return nil, fmt.Errorf("plan: budget %d bytes is negative", budget)
	}
	pre := &Preload{Target: target, Budget: budget, SeqLen: pl.opts.PreloadSeqLen, Shards: []ShardVersion{}}
	// Choosing the set plans hundreds of requests; in a scratch, rewound
	// after each, their memory is that of one, not hundreds of kilobytes
	// of garbage while a classifier opens.
	ws := pl.scratch()
	defer pl.release(ws)
	rows, rowBytes, res := pl.preloadSplit(ws, int64(target), budget)
	res = pl.ensureShard(ws, rows, res, int64(target), budget-rowBytes)
	pre.Rows, pre.RowBytes = rows, rowBytes
	pre.Bytes = pre.RowBytes
	for s, f := range res {
		if f < 0 {
			continue
		}
		v := pl.st.version(s, int(f))
		pre.Shards = append(pre.Shards, v)
		pre.Bytes += pl.st.heldBytes(s, int(f))
	}
	if pre.Bytes > budget {
		return nil, fmt.Errorf("plan: internal error: %s planner preloaded %d bytes over budget %d", pl.opts.Strategy, pre.Bytes, budget)
	}
	return pre, nil
}

// ensureShard returns res, or, when no plan at the reference length can
// run a shard with it in target (a plan must run one), res with one shard
// version added within budget: the one that lets a plan run it resident
// in target with the least loss, else (target too tight even for that at
// the reference length, but maybe not for shorter requests) the one whose
// resident plan is fastest, the least lossy among equals.
func (pl *planner) ensureShard(ws *scratch, rows []int, res []int8, target, budget int64) []int8 {
	S := pl.opts.PreloadSeqLen
	p := pl.st.problemIn(ws, S, pl.opts.InFlight, pl.opts.RowReads).mergeReads(pl.opts.MaxReadBytes)
	p.readRows(S - int(pl.st.prof.Words.expectedHits(rows, S)))
	m := ws.mark()
	if opt := pl.algo.plan(p, target, res); opt != nil && !runsNoShard(opt) {
		return res
	}
	if p.singleShard(res, target) != nil {
		return res
	}
	ws.rewind(m)
	var used int64
	for s, f := range res {
		if f >= 0 {
			used += pl.st.heldBytes(s, int(f))
		}
	}
	best, found := ws.int8s(p.N), false
	bestMeets, bestLat, bestLoss := false, int64(math.MaxInt64), math.Inf(1)
	opt := p.emptyOpt()
	base := p.loss(opt)
	for s := range p.N {
		if res[s] >= 0 {
			continue
		}
		for f := range p.F {
			if used+pl.st.heldBytes(s, f) > budget {
				continue
			}
			opt[s] = int16(p.F + f)
			loss := base - p.optLoss(s, optDrop) + p.optLoss(s, opt[s])
			lat := p.simulate(opt, nil)
			meets := lat <= target
			better := meets && (!bestMeets || loss < bestLoss) ||
				!meets && !bestMeets && (lat < bestLat || lat == bestLat && loss < bestLoss)
			if better {
				copy(best, res)
				best[s] = int8(f)
				found, bestMeets, bestLat, bestLoss = true, meets, lat, loss
			}
		}
		opt[s] = optDrop
	}
	if !found {
		return res
	}
	return best
}

// rowShares are the parts of the budget Preload tries giving to word rows.
var rowShares = []int64{0, 8, 4, 2} // budget/n; 0: none

// preloadSplit divides budget between word rows and shards: for each
// share in rowShares it keeps the most frequent rows that fit and chooses
// the shards for the rest at the reference length S. It scores the split
// by the losses of the plans for requests of S/2, S, 2S and 4S tokens,
// each with the rows' expected hits cached; a request no plan meets costs
// more than any plan, and the more the further its smallest feasible
// target is above target (rows lower that of long requests most). It
// returns the best split.
func (pl *planner) preloadSplit(ws *scratch, target, budget int64) (rows []int, rowBytes int64, res []int8) {
	words, g, S := pl.st.prof.Words, pl.st.prof.Geometry, pl.opts.PreloadSeqLen
	var allDropped float64
	for s := range pl.st.N {
		allDropped += pl.st.dropped[s]
	}
	best, prev := math.Inf(1), -1
	res = ws.int8s(pl.st.N)
	found := false
	for _, n := range rowShares {
		var ids []int
		if n > 0 {
			ids = words.HotRows(budget/n, g.RowMemBytes)
		}
		if len(ids) == prev {
			continue // the same rows as the smaller share before: same result
		}
		prev = len(ids)
		bytes := int64(len(ids)) * g.RowMemBytes
		m := ws.mark()
		problemAt := func(seqLen int) *problem {
			p := pl.st.problemIn(ws, seqLen, pl.opts.InFlight, pl.opts.RowReads).mergeReads(pl.opts.MaxReadBytes)
			p.readRows(seqLen - int(words.expectedHits(ids, seqLen)))
			return p
		}
		r := pl.algo.preload(problemAt(S), target, budget-bytes)
		var score float64
		for _, seqLen := range []int{max(S/2, 1), S, 2 * S, 4 * S} {
			mp := ws.mark()
			p := problemAt(seqLen)
			if opt := pl.algo.plan(p, target, r); opt != nil {
				score += p.loss(opt)
			} else {
				score += allDropped + 1 + float64(p.allDropped()-target)/float64(target)
			}
			ws.rewind(mp)
		}
		if !found || score < best {
			copy(res, r)
			rows, rowBytes, best, found = ids, bytes, score, true
		}
		ws.rewind(m)
	}
	return rows, rowBytes, res
}

func (pl *planner) Plan(req Request) (*Plan, error) {
	plan, err := pl.plan(req)
	if err != nil {
		return nil, err
	}
	if plan == nil {
		return nil, pl.infeasible(req)
	}
	return plan, nil
}

// plan is Plan without the search for the minimum target and budget: it
// returns a nil plan and no error when nothing is feasible.
func (pl *planner) plan(req Request) (*Plan, error) {
	if req.Target <= 0 {
		return nil, fmt.Errorf("plan: target %v is not positive", req.Target)
	}
	if req.Budget < 0 {
		return nil, fmt.Errorf("plan: budget %d bytes is negative", req.Budget)
	}
	if req.SeqLen <= 0 {
		return nil, fmt.Errorf("plan: sequence length %d is not positive", req.SeqLen)
	}
	pre := req.Preload
	if pre == nil {
		var err error
		if pre, err = pl.Preload(req.Target, req.Budget); err != nil {
			return nil, err
		}
	}
	ws := pl.scratch()
	defer pl.release(ws)
	res, bytes, err := pl.st.residentIn(ws, pre)
	if err != nil {
		return nil, err
	}
	if bytes += pre.RowBytes; bytes > req.Budget {
		return nil, fmt.Errorf("plan: preload set holds %s, over the budget of %s", units.FormatBytesExact(bytes), units.FormatBytesExact(req.Budget))
	}
	if req.CachedRows < 0 || req.CachedRows > req.SeqLen {
		return nil, fmt.Errorf("plan: %d cached word rows for a request of %d tokens", req.CachedRows, req.SeqLen)
	}
	if err := req.Scale.validate(); err != nil {
		return nil, err
	}
	p := pl.problemFor(ws, req)
	opt := pl.algo.plan(p, int64(req.Target), res)
	if opt != nil && p.loss(opt) > p.bestSingleLoss() {
		// A plan must run a shard, and one shard alone may beat what
		// the algorithm found with few.
		if single := p.singleShard(res, int64(req.Target)); single != nil && (runsNoShard(opt) || p.loss(single) < p.loss(opt)) {
			opt = single
		} else if runsNoShard(opt) {
			opt = nil
		}
	}
	if opt == nil || (pl.opts.MaxLoss > 0 && p.loss(opt) > pl.opts.MaxLoss) {
		return nil, nil
	}
	best := p.loss(opt)
	p.shed(opt, res, int64(req.Target), pl.opts.LossTolerance, pl.opts.MaxLoss)
	plan := p.materialize(opt, res)
	plan.BestLoss = best
	if pl.opts.Bound {
		lb := p.lossBound(int64(req.Target), res, plan.PredictedLoss)
		plan.LossBound = &lb
	}
	plan.CachedRows = req.CachedRows
	plan.PreloadRows = len(pre.Rows)
	plan.PreloadBytes += pre.RowBytes
	plan.Strategy = pl.opts.Strategy
	plan.Target, plan.Budget = req.Target, req.Budget
	plan.Scale = req.Scale
	plan.ProfiledLatency = plan.PredictedLatency
	if req.Scale != (Scale{}) {
		base := req
		base.Scale = Scale{}
		plan.ProfiledLatency = durNS(pl.problemFor(ws, base).simulate(opt, nil))
	}
	if plan.PredictedLatency > req.Target || plan.PreloadBytes > req.Budget {
		return nil, fmt.Errorf("plan: internal error: %s planner returned a plan predicted at %v with %d preloaded bytes for target %v and budget %d",
			pl.opts.Strategy, plan.PredictedLatency, plan.PreloadBytes, req.Target, req.Budget)
	}
	return plan, nil
}

// problemFor is the planning instance of req: its length, its word rows
// to read, and the profile's times stretched by its scale.
func (pl *planner) problemFor(ws *scratch, req Request) *problem {
	p := pl.st.problemIn(ws, req.SeqLen, pl.opts.InFlight, pl.opts.RowReads).mergeReads(pl.opts.MaxReadBytes).scaled(req.Scale)
	p.readRows(req.SeqLen - req.CachedRows)
	return p
}

// feasible reports whether a plan meets the request. It is what the
// minimum searches bisect on.
func (pl *planner) feasible(req Request, target time.Duration, budget int64) bool {
	req.Target, req.Budget = target, budget
	plan, err := pl.plan(req)
	return err == nil && plan != nil
}

// infeasible builds the error for a request no plan meets.
func (pl *planner) infeasible(req Request) error {
	e := &InfeasibleError{Target: req.Target, Budget: req.Budget, SeqLen: req.SeqLen, MaxLoss: pl.opts.MaxLoss, MinBudget: -1}
	e.MinTarget = pl.minTarget(req)
	// Without a loss ceiling only the fixed costs can make a request
	// infeasible, and no budget changes them.
	if req.Preload == nil && pl.opts.MaxLoss > 0 {
		e.MinBudget = pl.minBudget(req)
	}
	return e
}

// minTarget is the smallest target Plan accepts for req (whatever its
// Target); 0 when none does.
func (pl *planner) minTarget(req Request) time.Duration {
	budget := req.Budget
	ws := pl.scratch()
	defer pl.release(ws)
	p := pl.problemFor(ws, req)
	_, fastest := p.fastestShard(pl.residentFor(ws, req))
	hi := max(time.Duration(fastest), 1) // targets are positive
	if pl.opts.MaxLoss == 0 && req.Preload != nil {
		// Running one shard, the fastest, is always a plan, and nothing
		// faster is.
		return hi
	}
	// With a loss ceiling the answer depends on the algorithm, and without
	// a fixed preload set a target may buy a resident shard that needs no
	// read: bisect on Plan itself, between the latency of no shard at all
	// (nothing is faster) and hi, so the reported minimum is one Plan
	// accepts and one nanosecond less is one it rejects.
	lo := min(max(time.Duration(p.allDropped()), 1), hi) - 1
	for !pl.feasible(req, hi, budget) {
		lo, hi = hi, 2*hi
		if hi > time.Hour {
			return 0
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if pl.feasible(req, mid, budget) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// residentFor is the resident set a request is planned with, when it
// fixes one; else none (each target chooses its own, and a shard that
// is not resident can only be slower).
func (pl *planner) residentFor(ws *scratch, req Request) []int8 {
	if req.Preload != nil {
		if res, _, err := pl.st.residentIn(ws, req.Preload); err == nil {
			return res
		}
	}
	res := ws.int8s(pl.st.N)
	for i := range res {
		res[i] = -1
	}
	return res
}

// runsNoShard reports whether an assignment drops every shard.
func runsNoShard(opt []int16) bool {
	for _, o := range opt {
		if o != optDrop {
			return false
		}
	}
	return true
}

// minBudget is the smallest budget Plan accepts at req's target; -1 when
// none does.
func (pl *planner) minBudget(req Request) int64 {
	target := req.Target
	hi := pl.st.maxBytes()
	if !pl.feasible(req, target, hi) {
		return -1
	}
	lo := int64(-1)
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if pl.feasible(req, target, mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// MinTarget returns the smallest target that pl accepts for requests of
// seqLen tokens with the given budget, the preload set being chosen by
// pl.Preload at each target, and every word row read. With no loss ceiling
// this is the latency of dropping every shard.
func MinTarget(pl Planner, budget int64, seqLen int) (time.Duration, error) {
	return MinTargetFor(pl, Request{Budget: budget, SeqLen: seqLen})
}

// MinTargetFor returns the smallest target that pl accepts for req, whose
// Target is ignored: MinTarget for a request with its own preload set and
// cached word rows. It is what `--targets auto` starts from.
func MinTargetFor(pl Planner, req Request) (time.Duration, error) {
	if req.Budget < 0 || req.SeqLen <= 0 || req.CachedRows < 0 || req.CachedRows > req.SeqLen {
		return 0, fmt.Errorf("plan: minimum target needs a nonnegative budget, a positive sequence length and at most that many cached rows, got %d bytes, %d tokens and %d rows", req.Budget, req.SeqLen, req.CachedRows)
	}
	if err := req.Scale.validate(); err != nil {
		return 0, err
	}
	p, ok := pl.(*planner)
	if !ok {
		return 0, errors.New("plan: MinTarget needs a planner made by New")
	}
	t := p.minTarget(req)
	if t == 0 {
		return 0, fmt.Errorf("plan: no target meets the loss ceiling %g with budget %s", p.opts.MaxLoss, units.FormatBytesExact(req.Budget))
	}
	return t, nil
}

// Simulate predicts the timing of a plan with the timing model described
// at the top of this file, its times stretched by the plan's Scale,
// running each layer's shards in the order the plan lists them. It checks that the plan is consistent with the
// profiles and with itself: known layers, heads and fidelities, preloaded
// shards present in its preload set, and its IO stream listing exactly the
// streamed shards' blobs in that order.
func Simulate(plan *Plan, prof *Profiles) (*Timing, error) {
	if err := prof.Validate(); err != nil {
		return nil, err
	}
	if plan == nil {
		return nil, errors.New("plan: simulate: plan is nil")
	}
	if plan.SeqLen <= 0 || plan.InFlightBlobs < 0 {
		return nil, fmt.Errorf("plan: simulate: plan has sequence length %d and %d in-flight blobs", plan.SeqLen, plan.InFlightBlobs)
	}
	st := newStatic(prof.atDepth(plan.InFlightBlobs))
	res, _, err := st.resident(&Preload{Shards: plan.Preload})
	if err != nil {
		return nil, fmt.Errorf("plan: simulate: %w", err)
	}
	opt, err := st.assignment(plan, res)
	if err != nil {
		return nil, fmt.Errorf("plan: simulate: %w", err)
	}
	if plan.CachedRows < 0 || plan.CachedRows > plan.SeqLen {
		return nil, fmt.Errorf("plan: simulate: plan has %d cached word rows for %d tokens", plan.CachedRows, plan.SeqLen)
	}
	if err := plan.Scale.validate(); err != nil {
		return nil, fmt.Errorf("plan: simulate: %w", err)
	}
	p := st.problem(plan.SeqLen, plan.InFlightBlobs, plan.RowReads).mergeReads(plan.MaxReadBytes).scaled(plan.Scale)
	p.readRows(plan.SeqLen - plan.CachedRows)
	orders := make([][]int, p.L)
	for k, lp := range plan.Layers {
		for _, c := range lp.Shards {
			orders[k] = append(orders[k], c.Head)
		}
	}
	if !slices.Equal(p.ioOrder(opt, orders), plan.IO) {
		return nil, errors.New("plan: simulate: the plan's IO stream is not its streamed shards in layer order, attention blobs before FFN blobs, each in the layer's order")
	}
	t := &Timing{Layers: make([]LayerTiming, p.L)}
	t.Latency = time.Duration(p.simulateOrder(opt, orders, t))
	return t, nil
}

// Timing is the timing model's prediction for a plan.
type Timing struct {
	// EmbeddingRead is when the embedding rows have arrived.
	EmbeddingRead time.Duration
	// IOEnd is when the last blob has arrived.
	IOEnd time.Duration
	// Layers holds each layer's compute window.
	Layers []LayerTiming
	// Latency is when the head finishes.
	Latency time.Duration
}

// LayerTiming is one layer's predicted compute window and the order its
// shards run in (heads; both halves use it).
type LayerTiming struct {
	Start, Finish time.Duration
	Order         []int
}

// lossOf sums per-shard losses in shard order, so that every caller gets the
// same rounding.
// A plan must run at least one shard. Attention is the only step that
// mixes tokens, and the classifier reads the [CLS] position alone: with no
// shard anywhere every input gets the same answer, which is a constant,
// not a fast classification.

// fastestShard returns the assignment that runs only the shard, at the
// version, that finishes first (a resident version needs no read), and
// its latency.
func (p *problem) fastestShard(res []int8) ([]int16, int64) {
	var best []int16
	bestLat := int64(math.MaxInt64)
	p.eachSingleShard(res, func(opt []int16, lat int64, _ float64) {
		if lat < bestLat {
			best, bestLat = p.ws.clone16(opt), lat
		}
	})
	return best, bestLat
}

// singleShard returns the single-shard assignment with the least loss
// (ties: the faster) that meets target, or nil when none does.
func (p *problem) singleShard(res []int8, target int64) []int16 {
	var best []int16
	bestLoss, bestLat := math.Inf(1), int64(math.MaxInt64)
	p.eachSingleShard(res, func(opt []int16, lat int64, loss float64) {
		if lat <= target && (loss < bestLoss || (loss == bestLoss && lat < bestLat)) {
			best, bestLoss, bestLat = p.ws.clone16(opt), loss, lat
		}
	})
	return best
}

// bestSingleLoss is a lower bound on the loss of any single-shard
// assignment: every shard dropped but the one whose best version saves
// the most.
func (p *problem) bestSingleLoss() float64 {
	opt := p.emptyOpt()
	base := p.loss(opt)
	var save float64
	for s := range p.N {
		for o := range int16(2 * p.F) {
			save = max(save, p.optLoss(s, optDrop)-p.optLoss(s, o))
		}
	}
	return base - save
}

// eachSingleShard calls fn for every assignment that runs one shard,
// streamed at one of its versions or at its resident one, with its
// simulated latency and loss. fn must not keep opt.
func (p *problem) eachSingleShard(res []int8, fn func(opt []int16, lat int64, loss float64)) {
	opt := p.emptyOpt()
	base := p.loss(opt)
	for s := range p.N {
		for o := range int16(p.F + 1) {
			if o == int16(p.F) { // the resident version, if any
				if res[s] < 0 {
					continue
				}
				o += int16(res[s])
			}
			opt[s] = o
			fn(opt, p.simulate(opt, nil), base-p.optLoss(s, optDrop)+p.optLoss(s, o))
		}
		opt[s] = optDrop
	}
}

func lossOf(st *static, opt []int16) float64 {
	sum := 0.0
	for s, o := range opt {
		sum += st.optLoss(s, o)
	}
	return sum
}

// Fixed returns the plan that runs the shards layers[l] in layer l, none of
// them preloaded, reading every one in the order the executor consumes
// them: per layer, the attention blobs in the listed order, then the FFN
// blobs. Fixed schedules (the baselines, ablation studies) are plans too,
// so the executor has one input. A fixed plan predicts nothing: its
// PredictedLatency and PredictedLoss are zero.
func Fixed(g *Geometry, layers [][]ShardChoice) (*Plan, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if len(layers) > g.Layers {
		return nil, fmt.Errorf("plan: fixed plan of %d layers for a model of %d", len(layers), g.Layers)
	}
	p := &Plan{Layers: make([]LayerPlan, len(layers)), InFlightBlobs: DefaultInFlight}
	var largest int64
	for l, shards := range layers {
		p.Layers[l] = LayerPlan{Layer: l, Shards: slices.Clone(shards)}
		if p.Layers[l].Shards == nil {
			p.Layers[l].Shards = []ShardChoice{}
		}
		for _, part := range []Part{Attention, FFN} {
			for _, ch := range shards {
				i := slices.Index(g.Bits, ch.Bits)
				if ch.Head < 0 || ch.Head >= g.Heads || i < 0 {
					return nil, fmt.Errorf("plan: fixed plan: layer %d has no head %d at %d bits", l, ch.Head, ch.Bits)
				}
				size := g.Sizes[l][ch.Head][i].Attn
				if part == FFN {
					size = g.Sizes[l][ch.Head][i].FFN
				}
				largest = max(largest, size)
				p.IO = append(p.IO, BlobRead{Layer: l, Head: ch.Head, Part: part, Bits: ch.Bits, Bytes: size})
			}
		}
	}
	p.InFlightBytes = int64(p.InFlightBlobs) * largest
	return p, nil
}

// Full is the fixed plan that runs every shard of every layer at bits.
func Full(g *Geometry, bits quant.Fidelity) (*Plan, error) {
	layers := make([][]ShardChoice, g.Layers)
	for l := range layers {
		for h := range g.Heads {
			layers[l] = append(layers[l], ShardChoice{Head: h, Bits: bits})
		}
	}
	return Fixed(g, layers)
}

// StreamedBytes is what the plan reads from storage: the bytes of its IO
// stream (word rows aside).
func (p *Plan) StreamedBytes() int64 {
	var n int64
	for _, r := range p.IO {
		n += r.Bytes
	}
	return n
}
