package plan

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
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
