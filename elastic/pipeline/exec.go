package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/internal/freelist"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// Key is the store key of one blob of a plan.
func Key(layer, head int, part plan.Part, bits quant.Fidelity) shardstore.Key {
	p := shardstore.Attention
	if part == plan.FFN {
		p = shardstore.FFN
	}
	return shardstore.Key{Layer: layer, Head: head, Part: p, Fidelity: bits}
}

// PreloadKeys lists the shard versions of a preload set, both parts of
// each, for Executor.SetPreload.
func PreloadKeys(p *plan.Preload) []shardstore.Key {
	var keys []shardstore.Key
	for _, v := range p.Shards {
		for _, part := range []plan.Part{plan.Attention, plan.FFN} {
			keys = append(keys, Key(v.Layer, v.Head, part, v.Bits))
		}
	}
	return keys
}

// ExecOptions tunes an Executor. The zero value streams with
// plan.DefaultInFlight buffers and overlaps IO with compute.
type ExecOptions struct {
	// InFlight is how many streamed blobs may be held at once, read but not
	// yet folded in; 0 means plan.DefaultInFlight. Together with the largest
	// blob it bounds the streaming memory (see RunStats.InFlightBytes).
	InFlight int
	// LoadAll reads every streamed blob before computing anything (the
	// load-then-exec baseline); InFlight is then ignored.
	LoadAll bool
	// PreloadLimit, if positive, is the memory budget of the preload
	// buffer's blobs and word rows: SetPreload refuses a set whose blobs
	// and rows would come to more. What the shards hold once decoded
	// (PreloadHeldBytes) is known only then; elastic.Runner chooses its
	// set again when the whole is over its budget.
	PreloadLimit int64
	// MaxReadBytes, if positive, lets the IO goroutine read a run of
	// consecutive planned blobs that lie back to back in storage
	// (shardstore.Store.Adjacent) with one storage read, as long as the
	// run's blobs, each rounded up to storage.Align, come to at most this
	// many bytes and it needs no more buffers than InFlight. Each blob of
	// the run still has its own buffer and arrives in plan order, but only
	// when the whole run has been read. 0 reads one blob per read.
	MaxReadBytes int64
	// ReadQueue is how many storage reads the IO side keeps in flight at
	// once, each on a goroutine of its own, into its own in-flight buffer
	// (so it is at most InFlight: it is lowered to it). Blobs still reach
	// compute in plan order. A device that serves concurrent reads in
	// parallel (an SSD, storage.Throttle's emulation) then overlaps their
	// latencies, and a device profile measured at the same depth
	// (profile.DeviceOptions.ReadQueue) gives the planner the effective
	// per-read latency and bandwidth. A request's word rows are read as
	// many at a time, before the shards. 0 or 1 reads one blob at a time.
	// With MaxReadBytes, each read is a merged run of at most
	// InFlight/ReadQueue blobs.
	ReadQueue int
	// BlobBytes, if positive, is the size of every in-flight buffer, mapped
	// once and reused by every request; a plan that streams a larger blob
	// is refused. Zero sizes them for each request's largest blob.
	BlobBytes int
	// MaxSeqLen, if positive, is the longest request accepted, in tokens;
	// one activation buffer sized for it serves every request.
	MaxSeqLen int
}

// HeldOverError is SetPreload's refusal of a set whose shards, decoded,
// hold more than the limit allows besides their blobs and the word rows
// (integer forms, scales, outliers: quant.Matrix.HeldBytes). It stops at
// the first shard that crosses the limit, so Held is what the shards
// decoded until then, HeldBlobs their blobs, hold: their ratio tells
// how much smaller a set fits.
type HeldOverError struct {
	Limit, Blobs, Rows, Held, HeldBlobs int64
}

func (e *HeldOverError) Error() string {
	return fmt.Sprintf("preload: shard blobs of %d bytes and word rows of %d, with %d bytes their decoded shards hold (for %d bytes of blobs so far), are over the %d-byte budget",
		e.Blobs, e.Rows, e.Held, e.HeldBlobs, e.Limit)
}

// ScratchBytes bounds the memory an executor that holds up to inFlight
// streamed blobs keeps for requests of up to maxLen tokens besides their
// activations, blob buffers and the integer forms their shards own
// (FormBytes), on the Go heap:
//   - the word-row reads: the lists of a request's rows, and a direct-IO
//     bounce buffer of a few sectors for each of shardstore.RowReaders;
//   - per in-flight slot, its decoded shard's headers (per output row a
//     scale and a sum for each integer form, outliers, and the 4-bit
//     codes' tables: at most one byte per 8 weights); the 4-bit codes
//     view the blob buffers in place, repacked through one buffer of the
//     largest matrix's 4-bit codes;
//   - what be keeps between products: backend.MatMul's decode tile and a
//     backend.ScratchKeeper's own. The widest product of a shard has
//     K = cfg.Hidden.
//
// TestExecutorKeepsAtMostScratchBytes measures it.
func ScratchBytes(be backend.Backend, cfg *bert.Config, maxLen, inFlight int) int64 {
	h, d, f := cfg.Hidden, cfg.HeadDim(), cfg.FFNSlice()
	header := func(rows, weights int) int { return 16*(rows+4*backend.Int8Panel) + weights/8 }
	slot := max(header(3*d+h, 4*d*h), header(f+h, 2*f*h))
	n := int64(64<<10+max(inFlight, 1)*slot+max(d, f)*h/2) + backend.MatMulScratchBytes(maxLen, h)
	if k, ok := be.(backend.ScratchKeeper); ok {
		n += k.KeptScratchBytes(maxLen, h)
	}
	return n
}

// FormBytes is the memory one in-flight slot keeps for the integer forms
// of the shards it decodes at bits: 2- and
// 3-bit codes are spread into nibbles (backend.Int4, half a byte per
// weight) and 5- and 6-bit ones expanded into an int8 form (a byte per
// weight), in memory each matrix of the slot keeps for the next shards,
// the largest each position took: query, key, value and output of an
// attention shard, or up and down of an FFN one, share four matrices.
// The other codecs' forms view the blob buffer. A slot keeps the largest
// form of the fidelities it streamed, which a budget pays for per
// in-flight buffer (plan.Footprint.Form).
func FormBytes(cfg *bert.Config, bits quant.Fidelity) int64 {
	h, d, f := cfg.Hidden, cfg.HeadDim(), cfg.FFNSlice()
	int8 := func(n, k int) int { np, kp := backend.Int8Dims(n, k); return np * kp }
	own := int64(max(int8(d, h), int8(f, h)) + max(int8(d, h), int8(h, f)) + 2*int8(d, h) + int8(h, d))
	switch bits {
	case quant.Bits5, quant.Bits6:
		return own
	case quant.Bits2, quant.Bits3:
		return own / 2
	}
	return 0
}

// RunStats describes one request.
type RunStats struct {
	Latency     time.Duration `json:"latency_ns"`
	IOBytes     int64         `json:"io_bytes"`        // shard bytes streamed from storage
	Reads       int           `json:"reads"`           // shard blobs streamed
	ComputeWait time.Duration `json:"compute_wait_ns"` // time compute waited for IO
	// StorageReads is how many storage reads brought the streamed blobs
	// in: Reads, unless ExecOptions.MaxReadBytes merged some.
	StorageReads int `json:"storage_reads"`
	// IOTime is how long the device was busy with the request: its word
	// rows' reads, and for each streamed blob the time from a free buffer
	// to the blob read and checked (waits for a free buffer excluded).
	// ComputeTime is the rest of Latency that compute did not spend
	// waiting: Latency − ComputeWait − the word rows' reads. Set against
	// plan.Plan's PredictedIO and PredictedCompute they tell how much
	// slower than profiled the device and the cores run.
	IOTime      time.Duration `json:"io_ns"`
	ComputeTime time.Duration `json:"compute_ns"`
	// PeakWeightBytes is the most weight memory held at once: resident
	// parts, the preload buffer, and the streaming buffers allocated.
	PeakWeightBytes int64 `json:"peak_weight_bytes"`
	ResidentBytes   int64 `json:"resident_bytes"`
	PreloadBytes    int64 `json:"preload_bytes"`
	InFlightBytes   int64 `json:"in_flight_bytes"` // streaming buffers allocated
}

// ComputeThreads is how many threads a backend computing under a streaming
// Executor should use: one fewer than GOMAXPROCS, and at least one. The
// executor's IO goroutine issues each read when the previous one returns;
// if every processor is busy in a matrix product, it waits for the next
// scheduling point, and IO stops overlapping compute. On the 2-core
// development machine one compute thread gave up to 9 points more accuracy
// at the same targets with small budgets, where most weights stream, and
// about the same with large ones (docs/results.md).
func ComputeThreads() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// Executor runs schedules over a shard store: an IO goroutine streams shard
// versions into a bounded pool of aligned buffers while the caller's
// goroutine folds each into the layer being computed and releases its
// buffer. The preload buffer stays resident between requests; everything
// else is released when a request ends. An Executor is safe for concurrent
// use; each request has its own buffers.
type Executor struct {
	store *shardstore.Store
	be    backend.Backend
	skel  *bert.Model
	opts  ExecOptions

	// decodeMu makes the IO side decode one blob at a time (readq.go).
	decodeMu sync.Mutex

	mu      sync.RWMutex
	preload map[shardstore.Key]preloaded // decoded shards viewing their own buffers
	pBytes  int64                        // preloaded shards and rows
	pHeld   int64                        // what the decoded preloaded shards hold besides their blobs
	words   bert.WordEmbeddings          // the store's rows, read per request
	rows    *cachedWords                 // preloaded word rows; nil when none

	// mem holds the executor's large buffers outside the collected heap,
	// and keeps those of finished requests for the next ones, so that a
	// request allocates next to nothing in steady state.
	mem    *arena
	closed bool

	slotMu sync.Mutex
	slots  []*slot // kept for the next requests

	// runs keeps the bookkeeping of finished requests, across garbage
	// collections (unlike a sync.Pool), for the next ones.
	runs freelist.List[*runState]
}

// runState is the bookkeeping of one request, kept for the next ones so
// that checking and streaming a plan allocates next to nothing in steady
// state. Requests run concurrently, so each takes its own from
// Executor.runs.
type runState struct {
	want, stream []shardstore.Key // check's
	seen         []bool           // check's heads of one layer
	taken        []*slot
	free         chan *slot   // empty between requests
	arrivals     chan arrival // empty between requests, never closed
	rows         timedWords

	jobs []readJob // streamIO's ring; no read in flight between requests

	// Written by the IO side; read once rs.wg is done.
	allocated int64
	reads     int // storage reads issued
	busy      busyClock
	wg        sync.WaitGroup
}

// getRun returns a runState for a request.
func (e *Executor) getRun() *runState {
	rs, ok := e.runs.Get()
	if !ok {
		rs = new(runState)
	}
	rs.rows, rs.allocated, rs.reads, rs.busy = timedWords{}, 0, 0, busyClock{}
	return rs
}

// putRun keeps rs for a later request; the request's goroutines are done.
func (e *Executor) putRun(rs *runState) {
	for len(rs.free) > 0 {
		<-rs.free
	}
	for len(rs.arrivals) > 0 {
		<-rs.arrivals
	}
	for i := range rs.jobs { // a read whose outcome no one took
		select {
		case <-rs.jobs[i].done:
		default:
		}
		clear(rs.jobs[i].shards)
	}
	clear(rs.taken) // the slots go back to e.slots, not kept twice
	rs.rows.words = nil
	e.runs.Put(rs)
}

// NewExecutor loads the store's resident parts and returns an executor with
// an empty preload buffer.
func NewExecutor(ctx context.Context, s *shardstore.Store, be backend.Backend, opts ExecOptions) (*Executor, error) {
	if opts.InFlight <= 0 {
		opts.InFlight = plan.DefaultInFlight
	}
	mem := newArena(opts.InFlight, runtime.GOMAXPROCS(0))
	skel, err := s.SkeletonIn(ctx, shardstore.SkeletonOptions{Alloc: mem.bytes, MaxPositions: opts.MaxSeqLen})
	if err != nil {
		mem.release()
		return nil, fmt.Errorf("executor: %w", err)
	}
	e := &Executor{store: s, be: be, skel: skel, opts: opts, preload: map[shardstore.Key]preloaded{}, words: skel.Embeddings.Word, mem: mem,
		runs: freelist.List[*runState]{Max: runtime.GOMAXPROCS(0)}}
	// An executor dropped without Close still gives its maps back.
	runtime.AddCleanup(e, func(a *arena) { a.release() }, e.mem)
	return e, nil
}

// Config returns the model architecture.
func (e *Executor) Config() *bert.Config { return e.skel.Config }

// Store returns the shard store the executor reads.
func (e *Executor) Store() *shardstore.Store { return e.store }

// SetPreload makes the preload buffer hold exactly keys: missing versions
// are read (and verified), others are released.
func (e *Executor) SetPreload(ctx context.Context, keys []shardstore.Key) error {
	want := make(map[shardstore.Key]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	var need int64
	for k := range want {
		if e.store.Size(k) < 0 {
			return fmt.Errorf("preload: store has no %s", k.Describe())
		}
		need += int64(e.store.BufferSize(k))
	}
	overBudget := func(rows int64) error {
		if lim := e.opts.PreloadLimit; lim > 0 && need+rows > lim {
			return fmt.Errorf("preload: %d shard versions need %d bytes and word rows %d, over the %d-byte budget", len(want), need, rows, lim)
		}
		return nil
	}
	e.mu.RLock()
	if err := overBudget(e.rowBytes()); err != nil {
		e.mu.RUnlock()
		return err
	}
	var missing []shardstore.Key
	for _, k := range keys {
		if _, ok := e.preload[k]; !ok {
			missing = append(missing, k)
		}
	}
	// What the kept shards hold decoded counts against the limit with
	// what the loaded ones will.
	var held, heldBlobs int64
	for k, p := range e.preload {
		if want[k] {
			held += p.shard.HeldBytes()
			heldBlobs += int64(e.store.BufferSize(k))
		}
	}
	rows := e.rowBytes()
	e.mu.RUnlock()
	loaded := make(map[shardstore.Key]preloaded, len(missing))
	drop := func() {
		for _, p := range loaded {
			e.mem.free(p.buf)
		}
	}
	for _, k := range missing {
		buf, err := e.mem.bytes(e.store.BufferSize(k))
		if err != nil {
			drop()
			return fmt.Errorf("preload: %s: %w", k.Describe(), err)
		}
		sh, err := e.store.ReadShard(ctx, k, buf)
		if err != nil {
			e.mem.free(buf)
			drop()
			return fmt.Errorf("preload: %w", err)
		}
		loaded[k] = preloaded{sh, buf}
		held += sh.HeldBytes()
		heldBlobs += int64(e.store.BufferSize(k))
		// Stop as soon as the set decoded is over the limit, rather than
		// hold all of it first: the peak resident set counts it.
		if lim := e.opts.PreloadLimit; lim > 0 && need+rows+held > lim {
			drop()
			return &HeldOverError{Limit: lim, Blobs: need, Rows: rows, Held: held, HeldBlobs: heldBlobs}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		drop()
		return errClosed
	}
	if err := overBudget(e.rowBytes()); err != nil { // rows changed meanwhile
		drop()
		return err
	}
	for k, p := range e.preload {
		if !want[k] {
			delete(e.preload, k)
			e.mem.free(p.buf) // no request runs: we hold mu
		}
	}
	for k, p := range loaded {
		e.preload[k] = p
	}
	e.pBytes, e.pHeld = e.rowBytes(), 0
	for k, p := range e.preload {
		e.pBytes += int64(e.store.BufferSize(k))
		e.pHeld += p.shard.HeldBytes()
	}
	return nil
}

// preloaded is a shard in the preload buffer and the memory it views.
type preloaded struct {
	shard shardstore.Shard
	buf   []byte
}

// errClosed is returned by an executor after Close.
var errClosed = errors.New("executor: closed")

// Close releases the executor's buffers, preload buffer included. Requests
// in flight finish first; later ones fail.
func (e *Executor) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	clear(e.preload)
	e.rows = nil
	e.skel.Embeddings.Word = e.words
	e.pBytes, e.pHeld = 0, 0
	e.slotMu.Lock()
	e.slots = nil
	e.slotMu.Unlock()
	return e.mem.release()
}

// PreloadBytes is the memory the preload buffer holds: its shards' blobs,
// its word rows, and what the decoded shards hold besides their blobs
// (shardstore.Shard.HeldBytes; PreloadHeldBytes).
func (e *Executor) PreloadBytes() int64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.pBytes + e.pHeld
}

// PreloadHeldBytes is the part of PreloadBytes that the decoded shards
// hold besides their blobs: 22% of the blobs' bytes for wrx-sst2-small's
// 4-bit shards, whose integer form keeps a scale and a sum per output row
// and its outliers.
func (e *Executor) PreloadHeldBytes() int64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.pHeld
}

// ResidentBytes is the memory of the parts every request needs (layer
// norms, biases, position embeddings, classifier head).
func (e *Executor) ResidentBytes() int64 { return e.store.ResidentBytesFor(e.opts.MaxSeqLen) }

// arrival is one streamed shard, the error that stopped the stream, or
// the end of the stream (last).
type arrival struct {
	last  bool
	key   shardstore.Key
	shard shardstore.Shard
	slot  *slot
	err   error
}

// slot is the memory of one in-flight blob: its buffer, mapped on first
// use, and the space its shard is decoded into. Slots are kept for the
// next requests, so that streaming allocates nothing in steady state.
type slot struct {
	buf []byte
	sp  shardstore.ShardSpace
}

// Run executes p on one tokenized input and returns its logits.
//
// The IO goroutine reads exactly p.IO, in its order: the plan is the only
// source of read order. Compute runs p.Layers in order and folds each
// layer's shards in LayerPlan.Shards order, attention parts then FFN
// parts, taking preloaded shards from the preload buffer and the others
// from the stream. A plan whose IO does not match what its layers consume
// is refused before anything is read.
func (e *Executor) Run(ctx context.Context, p *plan.Plan, ids, typeIDs []int) ([]float32, RunStats, error) {
	start := time.Now()
	c := e.skel.Config
	if len(ids) == 0 {
		return nil, RunStats{}, errors.New("executor: no tokens")
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, RunStats{}, errClosed
	}
	rs := e.getRun()
	defer e.putRun(rs) // after the IO goroutine returned: Run waits for it
	stream, err := e.check(p, rs)
	if err != nil {
		return nil, RunStats{}, err
	}
	if m := e.opts.MaxSeqLen; m > 0 && len(ids) > m {
		return nil, RunStats{}, fmt.Errorf("executor: request of %d tokens is longer than the %d its memory is sized for", len(ids), m)
	}
	var bufSize int
	for _, k := range stream {
		bufSize = max(bufSize, e.store.BufferSize(k))
	}
	if b := e.opts.BlobBytes; b > 0 {
		if bufSize > b {
			return nil, RunStats{}, fmt.Errorf("executor: plan streams a blob of %d bytes, over the %d-byte in-flight buffers", bufSize, b)
		}
		bufSize = b
	}
	slots := e.opts.InFlight
	if e.opts.LoadAll {
		slots = max(len(stream), 1)
	}
	slots = min(slots, max(len(stream), 1))
	q := min(max(e.opts.ReadQueue, 1), slots)
	stats := RunStats{ResidentBytes: e.ResidentBytes(), PreloadBytes: e.pBytes + e.pHeld}
	if cap(rs.free) < slots {
		rs.free = make(chan *slot, slots) // a larger one serves as well
	}
	if cap(rs.arrivals) < slots {
		rs.arrivals = make(chan arrival, slots)
	}

	// The word rows are read before the shard stream starts: storage is one
	// sequential device, as the planner models it, and no layer can start
	// before its input exists anyway.
	act, err := e.mem.floats(bert.PassSize(c, max(len(ids), e.opts.MaxSeqLen)))
	if err != nil {
		return nil, RunStats{}, fmt.Errorf("executor: activations: %w", err)
	}
	defer e.mem.putFloats(act)
	pass := bert.NewPassIn(e.be, c, len(ids), act)
	// 8-bit (int8) and 4-bit shards run on the backend's integer kernels
	// where it has them, as the device profile times them (profile.Device).
	pass.UseInt8(true)
	emb := e.skel.Embeddings // a copy whose row reads this request times
	rows := &rs.rows
	rows.words = emb.Word
	emb.Word = rows
	if err := pass.Embed(ctx, &emb, ids, typeIDs); err != nil {
		return nil, RunStats{}, fmt.Errorf("executor: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	arrivals := rs.arrivals
	free := rs.free
	rs.taken = e.takeSlots(slots, rs.taken)
	taken := rs.taken
	for _, s := range taken {
		free <- s
	}
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		// The channel is kept for the next request, so it is not closed:
		// the stream ends with an arrival marked last, unless compute
		// stopped listening (and cancelled ctx).
		defer func() {
			select {
			case arrivals <- arrival{last: true}:
			case <-ctx.Done():
			}
		}()
		e.streamIO(ctx, rs, stream, slots, q, bufSize, free, arrivals)
	}()
	logits, err := e.compute(ctx, pass, p, arrivals, free, &stats)
	cancel()
	rs.wg.Wait()      // the IO goroutine has returned: nothing leaks, allocated is final
	e.putSlots(taken) // no shard views them any more
	if err != nil {
		return nil, RunStats{}, err
	}
	stats.InFlightBytes = rs.allocated
	stats.StorageReads = rs.reads
	stats.PeakWeightBytes = stats.ResidentBytes + stats.PreloadBytes + rs.allocated
	stats.Latency = time.Since(start)
	stats.IOTime = rows.took + rs.busy.total
	stats.ComputeTime = max(stats.Latency-stats.ComputeWait-rows.took, 0)
	return logits, stats, nil
}

// timedWords times the word row reads of one request. The store's rows
// read several at once themselves (shardstore.RowReaders), as the device
// profile times them (plan.DeviceProfile.RowReadTime).
type timedWords struct {
	words bert.WordEmbeddings
	took  time.Duration
}

// Rows implements bert.WordEmbeddings.
func (w *timedWords) Rows(ctx context.Context, ids []int, dst []float32) error {
	t := time.Now()
	err := w.words.Rows(ctx, ids, dst)
	w.took += time.Since(t)
	return err
}

// check validates p against the model and the preload buffer and returns
// the keys of p.IO, which must be exactly the streamed blobs in the order
// compute consumes them, in rs.stream. The caller holds mu.
func (e *Executor) check(p *plan.Plan, rs *runState) ([]shardstore.Key, error) {
	c := e.skel.Config
	if len(p.Layers) > c.Layers {
		return nil, fmt.Errorf("executor: plan has %d layers, model %d", len(p.Layers), c.Layers)
	}
	want := rs.want[:0]
	if cap(rs.seen) < c.Heads {
		rs.seen = make([]bool, c.Heads)
	}
	seen := rs.seen[:c.Heads]
	for l, lp := range p.Layers {
		if lp.Layer != l {
			return nil, fmt.Errorf("executor: plan layer %d is listed at position %d", lp.Layer, l)
		}
		clear(seen)
		for _, ch := range lp.Shards {
			if ch.Head < 0 || ch.Head >= c.Heads || seen[ch.Head] {
				return nil, fmt.Errorf("executor: layer %d: head %d out of range or repeated", l, ch.Head)
			}
			seen[ch.Head] = true
		}
		for _, part := range []plan.Part{plan.Attention, plan.FFN} {
			for _, ch := range lp.Shards {
				k := Key(l, ch.Head, part, ch.Bits)
				if ch.Preloaded {
					if _, ok := e.preload[k]; !ok {
						return nil, fmt.Errorf("executor: plan uses preloaded %s, which the preload buffer does not hold", k.Describe())
					}
					continue
				}
				want = append(want, k)
			}
		}
	}
	rs.want = want // grown, for the next request
	if len(p.IO) != len(want) {
		return nil, fmt.Errorf("executor: plan reads %d blobs but its layers stream %d", len(p.IO), len(want))
	}
	stream := slices.Grow(rs.stream[:0], len(p.IO))[:len(p.IO)]
	rs.stream = stream
	for i, r := range p.IO {
		stream[i] = Key(r.Layer, r.Head, r.Part, r.Bits)
		if stream[i] != want[i] {
			return nil, fmt.Errorf("executor: plan read %d is %s, but compute needs %s next", i, stream[i].Describe(), want[i].Describe())
		}
		if e.store.Size(stream[i]) < 0 {
			return nil, fmt.Errorf("executor: store has no %s", stream[i].Describe())
		}
	}
	return stream, nil
}

func (e *Executor) compute(ctx context.Context, pass *bert.Pass, pl *plan.Plan, arrivals <-chan arrival, free chan<- *slot, stats *RunStats) ([]float32, error) {
	var loaded []arrival // load-then-exec: everything read before compute
	if e.opts.LoadAll {
		t := time.Now()
		for {
			a, ok := recv(ctx, arrivals)
			if !ok {
				break
			}
			loaded = append(loaded, a)
		}
		stats.ComputeWait += time.Since(t)
	}
	receive := func() (arrival, bool) {
		if e.opts.LoadAll {
			if len(loaded) == 0 {
				return arrival{}, false
			}
			a := loaded[0]
			loaded = loaded[1:]
			return a, true
		}
		t := time.Now()
		a, ok := recv(ctx, arrivals)
		stats.ComputeWait += time.Since(t)
		return a, ok
	}
	// next returns the shard want, from the preload buffer or the stream;
	// a streamed one comes with its buffer, to release once folded in.
	next := func(want shardstore.Key, preloaded bool) (shardstore.Shard, *slot, error) {
		if preloaded {
			return e.preload[want].shard, nil, nil
		}
		a, ok := receive()
		switch {
		case !ok:
			if err := ctx.Err(); err != nil {
				return shardstore.Shard{}, nil, fmt.Errorf("executor: %w", err)
			}
			return shardstore.Shard{}, nil, fmt.Errorf("executor: stream ended before %s", want.Describe())
		case a.err != nil:
			return shardstore.Shard{}, nil, fmt.Errorf("executor: %w", a.err)
		case a.key != want:
			return shardstore.Shard{}, nil, fmt.Errorf("executor: stream delivered %s, want %s", a.key.Describe(), want.Describe())
		}
		stats.Reads++
		stats.IOBytes += e.store.Size(a.key)
		return a.shard, a.slot, nil
	}
	release := func(s *slot) {
		if s != nil {
			free <- s
		}
	}
	for l, lp := range pl.Layers {
		res := &e.skel.Layers[l].Resident
		pass.BeginLayer()
		for _, ch := range lp.Shards {
			sh, buf, err := next(Key(l, ch.Head, plan.Attention, ch.Bits), ch.Preloaded)
			if err != nil {
				return nil, err
			}
			pass.AddAttention(sh.Attention)
			release(buf)
		}
		pass.EndAttention(res)
		for _, ch := range lp.Shards {
			sh, buf, err := next(Key(l, ch.Head, plan.FFN, ch.Bits), ch.Preloaded)
			if err != nil {
				return nil, err
			}
			pass.AddFFN(sh.FFN)
			release(buf)
		}
		pass.EndLayer(res)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("executor: stopped after layer %d: %w", l, err)
		}
	}
	return pass.Logits(&e.skel.Head), nil
}

// recv returns the next arrival, or false at the end of the stream or
// once ctx is done (the IO goroutine then stops sending).
func recv(ctx context.Context, arrivals <-chan arrival) (arrival, bool) {
	select {
	case a := <-arrivals:
		return a, !a.last
	case <-ctx.Done():
		return arrival{}, false
	}
}

// fillSlot gives sl a buffer of at least n bytes, adding what it maps to
// *allocated. Only the IO goroutine of a request calls it, for the slots
// that request holds.
func (e *Executor) fillSlot(sl *slot, n int, allocated *int64) error {
	if cap(sl.buf) >= n {
		sl.buf = sl.buf[:n]
		return nil
	}
	e.mem.free(sl.buf)
	var err error
	if sl.buf, err = e.mem.blob(n); err != nil {
		return fmt.Errorf("executor: blob buffer: %w", err)
	}
	*allocated += int64(cap(sl.buf))
	return nil
}

// takeSlots returns n slots, kept ones first, in buf's storage.
func (e *Executor) takeSlots(n int, buf []*slot) []*slot {
	e.slotMu.Lock()
	defer e.slotMu.Unlock()
	out := slices.Grow(buf[:0], n)
	for len(out) < n && len(e.slots) > 0 {
		out = append(out, e.slots[len(e.slots)-1])
		e.slots = e.slots[:len(e.slots)-1]
	}
	for len(out) < n {
		out = append(out, new(slot))
	}
	return out
}

// putSlots keeps slots for later requests, up to the in-flight depth; the
// buffers of the others are unmapped.
func (e *Executor) putSlots(slots []*slot) {
	e.slotMu.Lock()
	defer e.slotMu.Unlock()
	for _, s := range slots {
		if len(e.slots) < e.opts.InFlight {
			e.slots = append(e.slots, s)
			continue
		}
		e.mem.free(s.buf)
	}
}

// OpenBackend opens the named backend to compute under a streaming
// Executor. threads 0 gives a backend that takes a thread count (native)
// ComputeThreads, the count device profiles are measured with.
func OpenBackend(name string, threads int) (backend.Backend, error) {
	if threads == 0 && name == "native" {
		threads = ComputeThreads()
	}
	return backend.Open(name, backend.Config{Threads: threads})
}
