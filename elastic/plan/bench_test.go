package plan

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// benchScales are the model shapes the planner must handle quickly.
var benchScales = []struct {
	name string
	opts synthOptions
}{
	{"6x12", smallModel()},
	{"12x12", func() synthOptions {
		o := smallModel()
		o.layers, o.hidden, o.headDim, o.ffnSlice, o.layerFull = 12, 768, 64, 256, 12*time.Millisecond
		return o
	}()},
	{"24x16", func() synthOptions {
		o := smallModel()
		o.layers, o.heads, o.hidden, o.headDim, o.ffnSlice, o.layerFull = 24, 16, 1024, 64, 256, 20*time.Millisecond
		return o
	}()},
}

// benchRequest picks a target between dropping everything and streaming
// the whole model at 8 bits, where planning has real choices to make, and
// a budget of a few percent of the fp32 model.
func benchRequest(prof *Profiles) Request {
	st := newStatic(prof)
	p := st.problem(DefaultPreloadSeqLen, DefaultInFlight, RowReadsBatched)
	var io int64
	f8 := st.fidIndex(8)
	for s := 0; s < st.N; s++ {
		io += st.ioA[s*st.F+f8] + st.ioF[s*st.F+f8]
	}
	return Request{
		Target: time.Duration(p.allDropped() + io/3),
		Budget: st.maxBytes() / 32,
		SeqLen: DefaultPreloadSeqLen,
	}
}

// BenchmarkPlan measures one request's planning with a resident preload
// set, as the executor does it per request.
func BenchmarkPlan(b *testing.B) {
	for _, sc := range benchScales {
		prof := synthProfiles(sc.opts, rand.New(rand.NewPCG(1, 2)))
		req := benchRequest(prof)
		for _, strat := range Strategies() {
			pl, err := New(prof, Options{Strategy: strat, RowReads: RowReadsBatched})
			if err != nil {
				b.Fatal(err)
			}
			if req.Preload, err = pl.Preload(req.Target, req.Budget); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%s", strat, sc.name), func(b *testing.B) {
				var loss float64
				for b.Loop() {
					plan, err := pl.Plan(req)
					if err != nil {
						b.Fatal(err)
					}
					loss = plan.PredictedLoss
				}
				b.ReportMetric(loss, "loss")
				b.ReportMetric(float64(req.Target)/1e6, "target-ms")
			})
		}
	}
}

// BenchmarkPreload measures choosing the resident set for a (T, B), done
// once per (T, B), not per request.
func BenchmarkPreload(b *testing.B) {
	for _, sc := range benchScales {
		prof := synthProfiles(sc.opts, rand.New(rand.NewPCG(1, 2)))
		req := benchRequest(prof)
		for _, strat := range Strategies() {
			pl, err := New(prof, Options{Strategy: strat, RowReads: RowReadsBatched})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%s", strat, sc.name), func(b *testing.B) {
				for b.Loop() {
					if _, err := pl.Preload(req.Target, req.Budget); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestPlanAllocatesOnlyItsResult: in steady state a request's planning
// allocates the Plan it returns (the struct, its layers' choices, its
// layers, its reads and its preload list) and nothing else; its working
// memory is the planner's kept scratch. Before the scratch it was about
// 210 allocations and 49 KB per request on the 6x12 model.
func TestPlanAllocatesOnlyItsResult(t *testing.T) {
	prof := synthProfiles(smallModel(), rand.New(rand.NewPCG(1, 2)))
	for _, strat := range Strategies() {
		for _, sc := range []Scale{{}, {IO: 1.5, Compute: 1.2}} {
			req := benchRequest(prof)
			req.Scale = sc
			planAllocs(t, prof, strat, req)
		}
	}
}

// planAllocs checks what planning req allocates once warm.
func planAllocs(t *testing.T, prof *Profiles, strat Strategy, req Request) {
	t.Helper()
	pl, err := New(prof, Options{Strategy: strat, RowReads: RowReadsBatched})
	if err != nil {
		t.Fatal(err)
	}
	if req.Preload, err = pl.Preload(req.Target, req.Budget); err != nil {
		t.Fatal(err)
	}
	plan := func() {
		if _, err := pl.Plan(req); err != nil {
			t.Fatal(err)
		}
	}
	plan()
	if a := testing.AllocsPerRun(20, plan); a > 5 {
		t.Errorf("%s, scale %+v: a request's planning allocates %.0f times, want at most 5 (its Plan)", strat, req.Scale, a)
	}
	min := func() {
		if _, err := MinTargetFor(pl, req); err != nil {
			t.Fatal(err)
		}
	}
	if a := testing.AllocsPerRun(20, min); a > 0 {
		t.Errorf("%s, scale %+v: the minimum target allocates %.0f times, want none", strat, req.Scale, a)
	}
}

// TestPlannerConcurrent plans requests of several lengths, targets and
// scales from many goroutines at once, sharing the planner's kept
// scratches, and checks every plan equals the one planned alone.
func TestPlannerConcurrent(t *testing.T) {
	prof := synthProfiles(smallModel(), rand.New(rand.NewPCG(1, 2)))
	base := benchRequest(prof)
	for _, strat := range Strategies() {
		pl, err := New(prof, Options{Strategy: strat, RowReads: RowReadsBatched})
		if err != nil {
			t.Fatal(err)
		}
		if base.Preload, err = pl.Preload(base.Target, base.Budget); err != nil {
			t.Fatal(err)
		}
		var reqs []Request
		for i := range 12 {
			r := base
			r.SeqLen = 8 + 9*(i%4)
			r.Target = base.Target * time.Duration(2+i%3) / 3
			r.Scale = Scale{IO: 1 + 0.25*float64(i%2), Compute: 1 + 0.1*float64(i%3)}
			reqs = append(reqs, r)
		}
		want := make([]*Plan, len(reqs))
		for i, r := range reqs {
			if want[i], err = pl.Plan(r); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for round := range 3 {
					for i := range reqs {
						j := (i + g + round) % len(reqs)
						p, err := pl.Plan(reqs[j])
						if err != nil {
							t.Error(err)
							return
						}
						if _, err := MinTargetFor(pl, reqs[j]); err != nil {
							t.Error(err)
							return
						}
						if diff := cmp.Diff(want[j], p); diff != "" {
							t.Errorf("%s: request %d planned concurrently differs (-alone +concurrent):\n%s", strat, j, diff)
							return
						}
					}
				}
			})
		}
		wg.Wait()
	}
}
