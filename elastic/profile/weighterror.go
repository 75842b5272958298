package profile

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// ErrorOptions tunes WeightErrors and WeightErrorImportance. The zero value uses GOMAXPROCS workers.
type ErrorOptions struct {
	// Workers measure shards in parallel; 0 means runtime.GOMAXPROCS(0).
	// The result does not depend on it.
	Workers int
	// Progress, if set, is called after each shard with the number done and
	// the total. Calls are serialised.
	Progress func(done, total int)
}

// WeightErrors measures how far each stored shard version is from the
// weights of m, the model the store was converted from. For every shard
// (layer, head) and every fidelity the store holds, in increasing order
// (returned as bits), errs[layer][head][i] is the squared relative error
// ‖w − ŵ‖² / ‖w‖² over all six matrices of the shard (Q, K, V and output of
// its attention part, up and down of its FFN part), where ŵ is decoded from
// the store. Biases are stored exactly and are left out.
//
// On a synthetic model, where a task loss means nothing, this is a stand-in
// for an importance profile: it is 0 at 32 bits, grows as bits drop, and
// treats every shard alike.
func WeightErrors(ctx context.Context, s *shardstore.Store, m *bert.Model, opts ErrorOptions) (bits []quant.Fidelity, errs [][][]float64, err error) {
	if s == nil || m == nil || m.Config == nil {
		return nil, nil, errors.New("profile weight errors: nil store or model")
	}
	c, sc := m.Config, s.Config()
	if c.Layers != sc.Layers || c.Heads != sc.Heads || c.Hidden != sc.Hidden || c.Intermediate != sc.Intermediate {
		return nil, nil, fmt.Errorf("profile weight errors: model is %d layers × %d heads (hidden %d, intermediate %d), store is %d × %d (hidden %d, intermediate %d)",
			c.Layers, c.Heads, c.Hidden, c.Intermediate, sc.Layers, sc.Heads, sc.Hidden, sc.Intermediate)
	}
	if err := m.Validate(); err != nil {
		return nil, nil, fmt.Errorf("profile weight errors: %w", err)
	}
	bits = slices.Clone(s.Manifest().Fidelities)
	slices.Sort(bits)
	errs = make([][][]float64, c.Layers)
	for l := range errs {
		errs[l] = make([][]float64, c.Heads)
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type job struct{ l, h int }
	jobs := make(chan job)
	var (
		mu       sync.Mutex
		firstErr error
		done     int
		wg       sync.WaitGroup
	)
	total := c.Layers * c.Heads
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				e, err := shardErrors(ctx, s, m, j.l, j.h, bits)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				errs[j.l][j.h] = e
				done++
				if opts.Progress != nil && firstErr == nil {
					opts.Progress(done, total)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for l := range c.Layers {
		for h := range c.Heads {
			select {
			case jobs <- job{l, h}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, nil, fmt.Errorf("profile weight errors: %w", firstErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("profile weight errors: %w", err)
	}
	return bits, errs, nil
}

// shardErrors measures one shard at every fidelity in bits.
func shardErrors(ctx context.Context, s *shardstore.Store, m *bert.Model, l, h int, bits []quant.Fidelity) ([]float64, error) {
	att, ffn := m.Layers[l].Attention[h], m.Layers[l].FFN[h]
	if att == nil || ffn == nil {
		return nil, fmt.Errorf("layer %d head %d: shard is absent from the model", l, h)
	}
	orig := []backend.Matrix{att.Query, att.Key, att.Value, att.Output, ffn.Up, ffn.Down}
	ref := make([][]float32, len(orig))
	var den float64
	for i, mt := range orig {
		d, ok := mt.(*backend.Dense)
		if !ok {
			return nil, fmt.Errorf("layer %d head %d: matrix %d is %T, want the fp32 weights the store was made from", l, h, i, mt)
		}
		ref[i] = d.Data
		den += sumSquares(d.Data)
	}
	out := make([]float64, len(bits))
	var buf []byte
	for fi, f := range bits {
		var num float64
		for _, part := range []shardstore.Part{shardstore.Attention, shardstore.FFN} {
			k := shardstore.Key{Layer: l, Head: h, Part: part, Fidelity: f}
			blob, err := s.ReadBlob(ctx, k.String(), buf)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k.Describe(), err)
			}
			buf = blob[:cap(blob)]
			sh, err := s.DecodeShard(k, blob)
			if err != nil {
				return nil, err
			}
			var got []backend.Matrix
			var want [][]float32
			if v := sh.Attention; v != nil {
				got, want = []backend.Matrix{v.Query, v.Key, v.Value, v.Output}, ref[:4]
			} else if v := sh.FFN; v != nil {
				got, want = []backend.Matrix{v.Up, v.Down}, ref[4:]
			}
			for i, g := range got {
				q, ok := g.(*quant.Matrix)
				if !ok {
					return nil, fmt.Errorf("%s: matrix %d decoded as %T, want *quant.Matrix", k.Describe(), i, g)
				}
				re := quant.RelativeError(want[i], q)
				num += re * re * sumSquares(want[i])
			}
		}
		if den > 0 {
			out[fi] = num / den
		}
	}
	return out, nil
}

func sumSquares(w []float32) float64 {
	var s float64
	for _, v := range w {
		s += float64(v) * float64(v)
	}
	return s
}

// WeightErrorMetric is the ImportanceProfile.Metric of
// WeightErrorImportance.
const WeightErrorMetric = "synthetic: relative weight error²"

// WeightErrorImportance is an importance profile for a model whose task
// loss means nothing, such as one of random weights (model/synth): the
// loss of a shard version is its squared relative weight error
// (WeightErrors) and a dropped shard costs 1. Every shard then matters
// alike, and fewer bits cost more.
func WeightErrorImportance(ctx context.Context, s *shardstore.Store, m *bert.Model, opts ErrorOptions) (*plan.ImportanceProfile, error) {
	bits, errs, err := WeightErrors(ctx, s, m, opts)
	if err != nil {
		return nil, err
	}
	c := m.Config
	p := &plan.ImportanceProfile{
		Task: "synthetic", Metric: WeightErrorMetric,
		Layers: c.Layers, Heads: c.Heads, Bits: bits,
		Shards: make([][]plan.ShardImportance, c.Layers),
	}
	for l := range p.Shards {
		p.Shards[l] = make([]plan.ShardImportance, c.Heads)
		for h := range p.Shards[l] {
			p.Shards[l][h] = plan.ShardImportance{Loss: errs[l][h], Dropped: 1}
		}
	}
	return p, nil
}
