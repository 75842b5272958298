package plan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/internal/stats"
	"github.com/wrxlabs/wrx/quant"
)

// The bound is a lower bound: on instances small enough to enumerate, it
// is at most the loss of the best assignment that meets the target (by
// brute force), hence of every plan either planner finds.
func TestLossBoundAgainstBruteForce(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 15
	}
	rng := rand.New(rand.NewPCG(47, 6))
	var slack []float64
	for i := 0; i < n; i++ {
		o := randomOptions(rng)
		o.layers, o.heads, o.bits = 3, 2, []quant.Fidelity{2, 4, 8}
		o.bandwidth /= 8
		st := newStatic(synthProfiles(o, rng))
		p := st.problem(4+rng.IntN(60), 1+rng.IntN(4), RowReads(rng.IntN(2)))
		if i%2 == 1 { // merged reads
			st.prof.Geometry.Contiguous = true
			p.mergeReads(int64(1+rng.IntN(16)) << 14)
		}
		res := make([]int8, p.N)
		for s := range res {
			res[s] = -1
			if rng.IntN(3) == 0 {
				res[s] = int8(rng.IntN(p.F))
			}
		}
		target := p.allDropped() + int64(rng.Float64()*float64(30*time.Millisecond))
		want := bruteForce(p, res, target)
		for _, ub := range []float64{math.Inf(1), want} {
			if lb := p.lossBound(target, res, ub); lb > want*(1+1e-12) {
				t.Fatalf("case %d (upper bound %v): bound %v above the optimum %v", i, ub, lb, want)
			}
		}
		lb := p.lossBound(target, res, want)
		for _, algo := range []algorithm{greedyAlgo{}, optimalAlgo{}} {
			if opt := algo.plan(p, target, res); opt != nil && p.loss(opt) < lb*(1-1e-12) {
				t.Fatalf("case %d: a plan of loss %v is below the bound %v", i, p.loss(opt), lb)
			}
		}
		slack = append(slack, 1-lb/want)
	}
	t.Logf("bound below the optimum by: median %.1f%%, 90th percentile %.1f%%, max %.1f%%",
		100*stats.Median(slack), 100*stats.Quantile(slack, 0.9), 100*slices.Max(slack))
}

// A target below the latency of dropping everything has no plan, and the
// bound says so.
func TestLossBoundInfeasible(t *testing.T) {
	st := newStatic(synthProfiles(smallModel(), nil))
	p := st.problem(32, DefaultInFlight, RowReadsBatched)
	res := residentOf(p, p.emptyOpt(), nil)
	if lb := p.lossBound(p.allDropped()-p.embedC-1, res, math.Inf(1)); !math.IsInf(lb, 1) {
		t.Fatalf("bound %v for a target no plan meets, want +Inf", lb)
	}
}

// With Options.Bound every plan carries its bound, which is at most its
// loss and what LowerBound computes from the plan alone.
func TestPlanCarriesBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(48, 7))
	n := 30
	if testing.Short() {
		n = 8
	}
	for i := 0; i < n; i++ {
		c := randomCase(rng)
		for _, strat := range Strategies() {
			opts := c.opts
			opts.Strategy, opts.Bound = strat, true
			pl, err := New(c.prof, opts)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := pl.Plan(Request{Target: c.target, Budget: c.budget, SeqLen: c.seqLen})
			if err != nil {
				continue
			}
			if plan.LossBound == nil {
				t.Fatalf("case %d %s: no bound", i, strat)
			}
			if lb := *plan.LossBound; lb > plan.PredictedLoss*(1+1e-12) || lb < 0 {
				t.Fatalf("case %d %s: bound %v, loss %v", i, strat, lb, plan.PredictedLoss)
			}
			if g := plan.Gap(); g < 0 || g > 1 {
				t.Fatalf("case %d %s: gap %v", i, strat, g)
			}
			lb, err := LowerBound(c.prof, plan)
			if err != nil {
				t.Fatal(err)
			}
			if lb != *plan.LossBound {
				t.Fatalf("case %d %s: LowerBound %v, the plan says %v", i, strat, lb, *plan.LossBound)
			}
		}
	}
}

// gapGrid plans a grid of targets, budgets and lengths on the bench
// scales' profiles and returns, per strategy, the gaps to the bound.
func gapGrid(t testing.TB, scales, inFlight int) map[Strategy][]float64 {
	gaps := map[Strategy][]float64{}
	for _, sc := range benchScales[:scales] {
		prof := synthProfiles(sc.opts, rand.New(rand.NewPCG(1, 2)))
		st := newStatic(prof)
		var io int64
		f8 := st.fidIndex(8)
		for s := 0; s < st.N; s++ {
			io += st.ioA[s*st.F+f8] + st.ioF[s*st.F+f8]
		}
		for _, strat := range Strategies() {
			pl, err := New(prof, Options{Strategy: strat, RowReads: RowReadsBatched, Bound: true, InFlight: inFlight})
			if err != nil {
				t.Fatal(err)
			}
			for _, frac := range []float64{0.1, 0.2, 1.0 / 3, 0.5, 0.8} {
				floor := st.problem(DefaultPreloadSeqLen, inFlight, RowReadsBatched).allDropped()
				target := time.Duration(floor + int64(frac*float64(io)))
				for _, div := range []int64{1 << 30, 64, 32, 8} {
					budget := st.maxBytes() / div
					pre, err := pl.Preload(target, budget)
					if err != nil {
						t.Fatal(err)
					}
					for _, seqLen := range []int{8, 32, 64, 128} {
						plan, err := pl.Plan(Request{Target: target, Budget: budget, SeqLen: seqLen, Preload: pre})
						if err != nil {
							continue
						}
						gaps[strat] = append(gaps[strat], plan.Gap())
						if testing.Verbose() && plan.Gap() > 0.05 && strat == StrategyOptimal {
							t.Logf("K=%d %s %s frac %.2f div %d len %d: loss %.4g bound %.4g lat %v target %v", inFlight, sc.name, strat, frac, div, seqLen, plan.PredictedLoss, *plan.LossBound, plan.PredictedLatency, target)
						}
					}
				}
			}
		}
	}
	return gaps
}

// The gap of both planners over a grid of requests on the small model,
// with the default buffer and one so large that it never binds, for the
// report (go test -run GapGrid -v).
func TestGapGrid(t *testing.T) {
	ks := []int{DefaultInFlight, 1 << 10}
	if testing.Short() {
		ks = ks[:1]
	}
	for _, k := range ks {
		gaps := gapGrid(t, 1, k)
		for _, strat := range Strategies() {
			g := gaps[strat]
			t.Logf("K=%-4d %-7s n=%d gap to the bound: median %.2f%%, 90th percentile %.2f%%, max %.2f%%",
				k, strat, len(g), 100*stats.Median(g), 100*stats.Quantile(g, 0.9), 100*slices.Max(g))
		}
	}
}

func BenchmarkLossBound(b *testing.B) {
	for _, sc := range benchScales {
		prof := synthProfiles(sc.opts, rand.New(rand.NewPCG(1, 2)))
		req := benchRequest(prof)
		pl, err := New(prof, Options{RowReads: RowReadsBatched})
		if err != nil {
			b.Fatal(err)
		}
		plan, err := pl.Plan(req)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprint(sc.name), func(b *testing.B) {
			var lb float64
			for b.Loop() {
				if lb, err = LowerBound(prof, plan); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((plan.PredictedLoss-lb)/plan.PredictedLoss, "gap")
		})
	}
}

// Of plans of equal predicted loss the optimizer returns one that reads
// the fewest bytes: no streamed shard has a smaller version of the same
// loss (or a resident one) that it could switch to and still meet the
// target. The profiles here make 16 and 32 bits lossless, so ties abound.
func TestOptimalReadsFewestBytesAmongEqualLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(49, 8))
	checked := 0
	n := 60
	if testing.Short() {
		n = 20
	}
	for i := 0; i < n; i++ {
		c := randomCase(rng)
		c.budget *= 4 // resident versions at 16 and 32 bits, the ties that matter
		im := c.prof.Importance
		i16, i32 := slices.Index(im.Bits, 16), slices.Index(im.Bits, 32)
		for l := range im.Shards {
			for h := range im.Shards[l] {
				im.Shards[l][h].Loss[i16], im.Shards[l][h].Loss[i32] = 0, 0
			}
		}
		pl, err := New(c.prof, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pl.Plan(Request{Target: c.target, Budget: c.budget, SeqLen: c.seqLen})
		if err != nil {
			continue
		}
		st := newStatic(c.prof)
		res, _, err := st.resident(&Preload{Shards: plan.Preload})
		if err != nil {
			t.Fatal(err)
		}
		opt, err := st.assignment(plan, res)
		if err != nil {
			t.Fatal(err)
		}
		p := st.problem(c.seqLen, c.opts.InFlight, c.opts.RowReads)
		p.readRows(c.seqLen - plan.CachedRows)
		for s, o := range opt {
			if o < 0 || int(o) >= p.F {
				continue
			}
			checked++
			l, b := p.lossv[s*p.F+int(o)], p.shardBytes(s, int(o))
			alts := []int16{}
			for f := 0; f < p.F; f++ {
				if p.lossv[s*p.F+f] == l && p.shardBytes(s, f) < b {
					alts = append(alts, int16(f))
				}
			}
			if r := res[s]; r >= 0 && p.lossv[s*p.F+int(r)] == l {
				alts = append(alts, int16(p.F)+int16(r))
			}
			for _, a := range alts {
				opt[s] = a
				if p.simulate(opt, nil) <= int64(c.target) {
					t.Fatalf("case %d: shard %d streams %d bytes; option %d has the same loss, reads less and meets the target", i, s, b, a)
				}
				opt[s] = o
			}
		}
	}
	if checked == 0 {
		t.Fatal("no streamed shard checked")
	}
}

// fewerBytes itself: a plan streaming every shard at 32 bits, where 16
// bits lose as little and some shards are resident at 32 bits, switches
// to the resident versions and to 16-bit reads.
func TestFewerBytes(t *testing.T) {
	o := smallModel()
	o.layers = 2
	prof := synthProfiles(o, nil)
	im := prof.Importance
	i16, i32 := slices.Index(im.Bits, 16), slices.Index(im.Bits, 32)
	for l := range im.Shards {
		for h := range im.Shards[l] {
			im.Shards[l][h].Loss[i16] = 0
		}
	}
	st := newStatic(prof)
	p := st.problem(32, DefaultInFlight, RowReadsBatched)
	res := residentOf(p, p.emptyOpt(), nil)
	res[0], res[5] = int8(i32), int8(i32)
	opt := p.emptyOpt()
	for s := range opt {
		opt[s] = int16(i32)
	}
	loss := p.loss(opt)
	p.fewerBytes(opt, res, p.simulate(opt, nil))
	for s, x := range opt {
		want := int16(i16)
		if res[s] >= 0 {
			want = int16(p.F + i32)
		}
		if x != want {
			t.Errorf("shard %d: option %d, want %d", s, x, want)
		}
	}
	if p.loss(opt) != loss {
		t.Errorf("loss %v, was %v", p.loss(opt), loss)
	}
}
