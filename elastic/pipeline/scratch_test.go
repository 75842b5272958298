package pipeline

import (
	"context"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/model/synth"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// TestExecutorKeepsAtMostScratchBytes runs requests of the longest
// accepted length at every fidelity but 16 bits through an executor over a model of
// wrx-sst2-small's layer shape (hidden 384, 12 heads, intermediate 1536)
// and measures how much the live heap grew from the executor's opening:
// what it keeps for requests is ScratchBytes' and, per in-flight slot,
// FormBytes' (of the largest form, at 5 and 6 bits) to bound, as a memory budget
// counts it.
func TestExecutorKeepsAtMostScratchBytes(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	cfg := storetest.SynthConfig()
	cfg.Hidden, cfg.Heads, cfg.Intermediate, cfg.Layers = 384, 12, 1536, 2
	m, err := synth.Model(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	uri := "mem:" + t.Name()
	storetest.CleanupMem(t, uri)
	if err := shardstore.Convert(ctx, uri, m, storetest.SynthTokenizer(t), shardstore.ConvertOptions{Fidelities: []quant.Fidelity{2, 3, 4, 5, 6, 8, 32}, Synthetic: true}); err != nil {
		t.Fatal(err)
	}
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const maxLen = 64
	ids := make([]int, maxLen)
	for i := range ids {
		ids[i] = 100 + 7*i
	}
	ids[0], ids[maxLen-1] = 2, 3 // [CLS], [SEP] of the synthetic vocabulary
	for _, threads := range []int{1, 2} {
		be, err := backend.Open("native", backend.Config{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewExecutor(ctx, s, be, ExecOptions{MaxSeqLen: maxLen})
		if err != nil {
			t.Fatal(err)
		}
		before := liveHeap()
		for _, bits := range []quant.Fidelity{32, 8, 6, 5, 4, 3, 2} {
			p := fullPlan(t, s, bits)
			for _, n := range []int{maxLen, 12} {
				if _, _, err := e.Run(ctx, p, ids[:n], nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		grew := liveHeap() - before
		bound := ScratchBytes(be, cfg, maxLen, plan.DefaultInFlight) + plan.DefaultInFlight*FormBytes(cfg, 5)
		t.Logf("%d threads: the live heap grew %d bytes over the requests; ScratchBytes is %d", threads, grew, bound)
		if grew > bound {
			t.Errorf("%d threads: the live heap grew %d bytes over the requests; ScratchBytes is %d", threads, grew, bound)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// liveHeap is the heap the collector found live, after a collection.
func liveHeap() int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}
