package elastic

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/internal/storetest"
)

// TestRunnerSteadyStateAllocatesLittle: once warm, a request allocates its
// answer and its plan and next to nothing else; planning works in the
// planner's kept scratch and the executor in memory kept from the first
// request. Garbage per request is what a bounded Go heap must absorb
// between collections, resident memory the budget does not pay for.
func TestRunnerSteadyStateAllocatesLittle(t *testing.T) {
	_, s, _ := storetest.SynthFixture(t, "fixtures/tiny-bert", 2, 4, 8, 32)
	be, err := backend.Get("native")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := NewRunner(ctx, s, be, RunnerOptions{Target: 40 * time.Millisecond, MaxSeqLen: 32, Profiles: handProfiles(t, s), Calibration: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	run := func() {
		if _, _, err := r.Run(ctx, time.Time{}, testIDs, nil); err != nil {
			t.Fatal(err)
		}
	}
	run()
	// A program that bounds its heap (rss.LimitHeap) collects every few
	// requests: what is kept between requests must survive a collection,
	// as a sync.Pool's contents do not.
	collectThenRun := func() {
		runtime.GC()
		run()
	}
	for _, c := range []struct {
		name string
		run  func()
	}{{"back to back", run}, {"after a collection", collectThenRun}} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const n = 50
		allocs := testing.AllocsPerRun(n, c.run)
		runtime.ReadMemStats(&after)
		bytes := (after.TotalAlloc - before.TotalAlloc) / (n + 1)
		t.Logf("%s, per request: %.0f allocations, %d bytes", c.name, allocs, bytes)
		// Measured: 13 allocations, 2.5 KB (the plan, the logits, the run
		// state of the pipeline goroutines); before the planner's scratch and
		// the executor's kept state, about 300 and 40 KB on the SST-2 model.
		const maxRequestAllocs, maxRequestBytes = 30, 8 << 10
		if raceEnabled {
			t.Log("race detector on: its instrumentation allocates; the bound is not checked")
			continue
		}
		if allocs > maxRequestAllocs || bytes > maxRequestBytes {
			t.Errorf("%s: a warm request allocates %.0f times, %d bytes; want at most %d and %d", c.name, allocs, bytes, maxRequestAllocs, maxRequestBytes)
		}
	}
}
