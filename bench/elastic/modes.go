package elasticbench

import (
	"context"
	"fmt"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic"
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// Mode is a way of serving requests from a shard store: WRX's planned
// elastic pipeline, or one of the paper's baselines. The streaming ones
// run on the same pipeline.Executor as WRX; they differ in plan, preload
// and buffering.
type Mode string

// The modes.
const (
	// ModeWRX plans every request (target, budget, sequence length) and
	// streams the planned shard versions, with the planner's preload set
	// resident between requests (elastic.Runner).
	ModeWRX Mode = "wrx"
	// ModeHoldInMemory keeps the whole model resident at one fidelity,
	// word embedding table included: no IO per request, the most memory.
	// At 32 bits its layers run fused (bert.Model.Fuse), the fastest way
	// this library computes a layer, so the baseline is not handicapped.
	ModeHoldInMemory Mode = "hold-in-memory"
	// ModeQuantizedHold keeps every shard resident at one fidelity,
	// decoded tile by tile inside the product (at 8 and 4 bits, with a
	// backend that has integer kernels, fused into layers multiplied on
	// them), and reads a request's word rows from the store: the whole
	// model in a few MB at 2–4 bits, and the strongest simple alternative
	// to streaming where it fits.
	ModeQuantizedHold Mode = "quantized-hold"
	// ModeLoadThenExec reads the whole model at one fidelity, then
	// computes, for every request.
	ModeLoadThenExec Mode = "load-then-exec"
	// ModeLayerwise streams the whole model at one fidelity, reading layer
	// k+1 while layer k computes (the paper's standard pipelining).
	ModeLayerwise Mode = "layerwise-pipeline"
)

// Modes lists every mode.
func Modes() []Mode {
	return []Mode{ModeWRX, ModeHoldInMemory, ModeQuantizedHold, ModeLoadThenExec, ModeLayerwise}
}

// ParseMode returns the mode named s.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes() {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("bench: unknown mode %q (want one of %v)", s, Modes())
}

// server serves tokenized requests in one mode.
type server interface {
	// Run serves a request that arrived at arrival (zero: now).
	Run(ctx context.Context, arrival time.Time, ids, typeIDs []int) ([]float32, elastic.RunInfo, error)
	// ResidentBytes is the weight memory every request holds.
	ResidentBytes() int64
	// PreloadBytes is the memory of the preload buffer.
	PreloadBytes() int64
}

// newBaseline prepares a baseline mode over store at fidelity f (0: the
// store's highest).
func newBaseline(ctx context.Context, store *shardstore.Store, be backend.Backend, mode Mode, f quant.Fidelity) (server, error) {
	if f == 0 {
		for _, b := range store.Manifest().Fidelities {
			f = max(f, b)
		}
	}
	if !store.Manifest().HasFidelity(f) {
		return nil, fmt.Errorf("bench: %s at %d bits: store has fidelities %v", mode, int(f), store.Manifest().Fidelities)
	}
	// Both streaming baselines read a layer at a time, as the paper's do:
	// Convert lays a layer's blobs at one fidelity out back to back, so
	// the executor reads each layer with one read (a store converted
	// before that layout falls back to a read per blob).
	opts := pipeline.ExecOptions{MaxReadBytes: maxLayerBytes(store, f)}
	switch mode {
	case ModeHoldInMemory:
		return newHold(ctx, store, be, f, true)
	case ModeQuantizedHold:
		return newHold(ctx, store, be, f, false)
	case ModeLoadThenExec:
		opts.LoadAll = true
	case ModeLayerwise:
		// Layer k+1 read, whole, into its buffers while layer k, in the
		// other half, is computed.
		opts.InFlight = 4 * store.Config().Heads
	default:
		return nil, fmt.Errorf("bench: %q is not a baseline mode", mode)
	}
	g, err := profile.GeometryFromManifest(store.Manifest())
	if err != nil {
		return nil, err
	}
	p, err := plan.Full(g, f)
	if err != nil {
		return nil, err
	}
	ex, err := pipeline.NewExecutor(ctx, store, be, opts)
	if err != nil {
		return nil, err
	}
	return &fixed{ex: ex, plan: p}, nil
}

// maxLayerBytes is the most any layer's blobs at f take in storage, each
// rounded up to the alignment as the store lays it out.
func maxLayerBytes(store *shardstore.Store, f quant.Fidelity) int64 {
	c := store.Config()
	var most int64
	for l := range c.Layers {
		var n int64
		for h := range c.Heads {
			for _, part := range []shardstore.Part{shardstore.Attention, shardstore.FFN} {
				n += int64(store.BufferSize(shardstore.Key{Layer: l, Head: h, Part: part, Fidelity: f}))
			}
		}
		most = max(most, n)
	}
	return most
}

// fixed streams the same plan for every request.
type fixed struct {
	ex   *pipeline.Executor
	plan *plan.Plan
}

func (s *fixed) Run(ctx context.Context, _ time.Time, ids, typeIDs []int) ([]float32, elastic.RunInfo, error) {
	logits, st, err := s.ex.Run(ctx, s.plan, ids, typeIDs)
	return logits, elastic.RunInfo{RunStats: st}, err
}

func (s *fixed) ResidentBytes() int64 { return s.ex.ResidentBytes() }
func (s *fixed) PreloadBytes() int64  { return s.ex.PreloadBytes() }

// hold computes from a whole model in memory (as int8 at 8 bits on a
// backend with integer kernels).
type hold struct {
	m   *bert.Model
	be  backend.Backend
	mem int64 // its weight bytes
}

// newHold holds every shard of store at f; with wordTable also the whole
// word-embedding table, else a request reads its rows from the store.
func newHold(ctx context.Context, store *shardstore.Store, be backend.Backend, f quant.Fidelity, wordTable bool) (*hold, error) {
	int8 := false
	if _, ok := be.(backend.Int8Multiplier); ok && f == quant.Bits8 {
		int8 = true // held as wrx.Open holds it: int8 on the integer kernels
	}
	// Fused as read, as wrx.Open does: the model once, not twice. At 4
	// bits, as wrx.Open holds it too: 4-bit layers on the integer kernels.
	fuse := shardstore.FuseEachLayer(int8)
	if _, ok := be.(backend.Int4Multiplier); ok && f == quant.Bits4 {
		fuse = shardstore.FuseEachLayerWith((*bert.Model).FuseInt4)
	}
	m, err := store.UniformWith(ctx, f, shardstore.UniformOptions{AfterLayer: fuse})
	if err != nil {
		return nil, err
	}
	mem := store.ResidentBytes()
	if wordTable && int8 {
		t, err := store.WordTableInt8(ctx)
		if err != nil {
			return nil, err
		}
		m.Embeddings.Word = t
		mem += int64(len(t.Q)) + 4*int64(len(t.Scale))
	} else if wordTable {
		t, err := store.WordTable(ctx)
		if err != nil {
			return nil, err
		}
		m.Embeddings.Word = t
		mem += 4 * int64(len(t.Data))
	}
	mem += m.FusedBytes()
	for l, layer := range m.Layers {
		for h := range m.Config.Heads {
			for _, part := range []shardstore.Part{shardstore.Attention, shardstore.FFN} {
				held := layer.Attention[h] != nil
				if part == shardstore.FFN {
					held = layer.FFN[h] != nil
				}
				if held {
					mem += store.Size(shardstore.Key{Layer: l, Head: h, Part: part, Fidelity: f})
				}
			}
		}
	}
	return &hold{m: m, be: be, mem: mem}, nil
}

func (s *hold) Run(ctx context.Context, _ time.Time, ids, typeIDs []int) ([]float32, elastic.RunInfo, error) {
	var info elastic.RunInfo
	start := time.Now()
	logits, err := s.m.Forward(ctx, s.be, ids, typeIDs)
	info.Latency = time.Since(start)
	info.PeakWeightBytes, info.ResidentBytes = s.mem, s.mem
	return logits, info, err
}

func (s *hold) ResidentBytes() int64 { return s.mem }
func (s *hold) PreloadBytes() int64  { return 0 }
