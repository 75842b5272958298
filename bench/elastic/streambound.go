package elasticbench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/stats"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// StreamBoundOptions configures StreamBound.
type StreamBoundOptions struct {
	// Store is the shard store's URI; Throttle, if not zero, emulates a
	// slower device under it.
	Store    string
	Throttle storage.ThrottleConfig
	// Backend and Threads choose the compute backend
	// (pipeline.OpenBackend: 0 threads is ComputeThreads for native).
	Backend string
	Threads int
	// Requests is how many requests each configuration serves; they are
	// interleaved across configurations, one round at a time, so that a
	// slow spell of the machine hits them all alike.
	Requests int
	// SeqLen is the tokens of every request (random ids).
	SeqLen int
	// Queues are the executor read depths (pipeline.ExecOptions.ReadQueue)
	// to measure.
	Queues []int
	// MaxReadBytes, if positive, also measures every depth with adjacent
	// blobs merged into reads of up to this many bytes.
	MaxReadBytes int64
	// InFlight is the executor's in-flight buffers for every
	// configuration; it must be at least the deepest queue.
	InFlight int
	// Bits is the fidelity every shard streams at; 0 means the highest
	// the store holds.
	Bits quant.Fidelity
	// Seed seeds the token ids.
	Seed uint64
}

// StreamBoundRow is one configuration's requests: each streams every
// shard of the model.
type StreamBoundRow struct {
	// Queue and MaxReadBytes are the executor's; Queue 0 is compute only:
	// every shard preloaded, nothing streamed.
	Queue        int   `json:"queue"`
	MaxReadBytes int64 `json:"max_read_bytes,omitempty"`
	// P50 and Min are the requests' executor latencies.
	P50 time.Duration `json:"p50_ns"`
	Min time.Duration `json:"min_ns"`
	// ComputeWait is the median time compute waited for IO.
	ComputeWait  time.Duration `json:"compute_wait_ns"`
	IOBytes      int64         `json:"io_bytes"`
	Reads        int           `json:"reads"`
	StorageReads int           `json:"storage_reads"`
}

// StreamBound measures how close streaming a whole model comes to the
// device's bound: for each read depth, with and without merged reads, the
// executor serves opts.Requests requests that stream every shard at
// opts.Bits, and the latencies are reported beside the bytes they read
// (the bound is those bytes over the device's bandwidth, which the
// caller measures, e.g. with dd). A last row, Queue 0, is the same
// requests with every shard preloaded: compute alone, to tell an
// IO-bound stream from a compute-bound one.
func StreamBound(ctx context.Context, opts StreamBoundOptions) ([]StreamBoundRow, error) {
	store, err := shardstore.OpenURIWith(ctx, opts.Store, shardstore.OpenOptions{Throttle: opts.Throttle})
	if err != nil {
		return nil, fmt.Errorf("stream bound: %w", err)
	}
	defer store.Close()
	be, err := pipeline.OpenBackend(cmp.Or(opts.Backend, "native"), opts.Threads)
	if err != nil {
		return nil, fmt.Errorf("stream bound: %w", err)
	}
	return streamBound(ctx, store, be, opts)
}

func streamBound(ctx context.Context, store *shardstore.Store, be backend.Backend, opts StreamBoundOptions) ([]StreamBoundRow, error) {
	if opts.Requests <= 0 || opts.SeqLen <= 0 || len(opts.Queues) == 0 {
		return nil, errors.New("stream bound: need requests, a sequence length and read depths")
	}
	if opts.InFlight < slices.Max(opts.Queues) {
		return nil, fmt.Errorf("stream bound: %d in-flight buffers, fewer than the deepest read queue %d", opts.InFlight, slices.Max(opts.Queues))
	}
	cfg := store.Config()
	if opts.SeqLen > cfg.MaxPosition {
		return nil, fmt.Errorf("stream bound: %d tokens, over the model's %d positions", opts.SeqLen, cfg.MaxPosition)
	}
	bits := opts.Bits
	if bits == 0 {
		bits = slices.Max(store.Manifest().Fidelities)
	}
	g, err := profile.GeometryFromManifest(store.Manifest())
	if err != nil {
		return nil, fmt.Errorf("stream bound: %w", err)
	}
	streamed, err := plan.Full(g, bits)
	if err != nil {
		return nil, fmt.Errorf("stream bound: %w", err)
	}
	held := preloadedPlan(streamed)

	type config struct {
		row  StreamBoundRow
		ex   *pipeline.Executor
		p    *plan.Plan
		lat  []time.Duration
		wait []time.Duration
	}
	var configs []*config
	defer func() {
		for _, c := range configs {
			c.ex.Close()
		}
	}()
	merges := []int64{0}
	if opts.MaxReadBytes > 0 {
		merges = append(merges, opts.MaxReadBytes)
	}
	for _, m := range merges {
		for _, q := range opts.Queues {
			ex, err := pipeline.NewExecutor(ctx, store, be, pipeline.ExecOptions{InFlight: opts.InFlight, ReadQueue: q, MaxReadBytes: m, MaxSeqLen: opts.SeqLen})
			if err != nil {
				return nil, fmt.Errorf("stream bound: %w", err)
			}
			configs = append(configs, &config{row: StreamBoundRow{Queue: q, MaxReadBytes: m}, ex: ex, p: streamed})
		}
	}
	ex, err := pipeline.NewExecutor(ctx, store, be, pipeline.ExecOptions{MaxSeqLen: opts.SeqLen})
	if err != nil {
		return nil, fmt.Errorf("stream bound: %w", err)
	}
	configs = append(configs, &config{ex: ex, p: held})
	if err := ex.SetPreload(ctx, pipeline.PreloadKeys(&plan.Preload{Shards: held.Preload})); err != nil {
		return nil, fmt.Errorf("stream bound: compute only: %w", err)
	}

	rng := rand.New(rand.NewPCG(opts.Seed, 0x5354524d))
	ids := make([]int, opts.SeqLen)
	// One warm-up round: buffers mapped, kernels' scratch grown.
	for round := -1; round < opts.Requests; round++ {
		ids[0], ids[len(ids)-1] = 101, 102
		for i := 1; i < len(ids)-1; i++ {
			ids[i] = 1000 + rng.IntN(cfg.VocabSize-1000)
		}
		for _, c := range configs {
			_, st, err := c.ex.Run(ctx, c.p, ids, nil)
			if err != nil {
				return nil, fmt.Errorf("stream bound: read queue %d, merged reads %d bytes: %w", c.row.Queue, c.row.MaxReadBytes, err)
			}
			if round < 0 {
				continue
			}
			c.lat = append(c.lat, st.Latency)
			c.wait = append(c.wait, st.ComputeWait)
			c.row.IOBytes, c.row.Reads, c.row.StorageReads = st.IOBytes, st.Reads, st.StorageReads
		}
	}
	rows := make([]StreamBoundRow, len(configs))
	for i, c := range configs {
		c.row.P50, c.row.Min = stats.Median(c.lat), slices.Min(c.lat)
		c.row.ComputeWait = stats.Median(c.wait)
		rows[i] = c.row
	}
	return rows, nil
}

// preloadedPlan is p with every shard taken from the preload buffer:
// nothing streamed.
func preloadedPlan(p *plan.Plan) *plan.Plan {
	out := *p
	out.IO = nil
	out.Preload = nil
	out.Layers = slices.Clone(p.Layers)
	for l := range out.Layers {
		lp := &out.Layers[l]
		lp.Shards = slices.Clone(lp.Shards)
		for i := range lp.Shards {
			lp.Shards[i].Preloaded = true
			out.Preload = append(out.Preload, plan.ShardVersion{Layer: l, Head: lp.Shards[i].Head, Bits: lp.Shards[i].Bits})
		}
	}
	return &out
}
