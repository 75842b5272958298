package plan

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/internal/stats"
	"github.com/wrxlabs/wrx/quant"
)

// bruteForce returns the lowest loss of any assignment of p's shards whose
// K-bounded simulated latency meets target, with the resident versions res,
// by trying them all.
func bruteForce(p *problem, res []int8, target int64) float64 {
	options := make([][]int16, p.N)
	for s := range options {
		options[s] = []int16{optDrop}
		for f := 0; f < p.F; f++ {
			options[s] = append(options[s], int16(f))
		}
		if res[s] >= 0 {
			options[s] = append(options[s], int16(p.F)+int16(res[s]))
		}
	}
	opt := p.emptyOpt()
	best := math.Inf(1)
	var walk func(s int)
	walk = func(s int) {
		if s == p.N {
			if l := p.loss(opt); l < best && p.simulate(opt, nil) <= target {
				best = l
			}
			return
		}
		for _, o := range options[s] {
			opt[s] = o
			walk(s + 1)
		}
	}
	walk(0)
	return best
}

// On instances small enough to solve exactly (3 layers of 2 heads, 3
// fidelities, some shards resident), both planners must be no better than
// the optimum (which would mean a plan that misses T or a mis-summed loss)
// and the optimizer no worse than the greedy; the log says how close they
// get.
func TestPlannersAgainstBruteForce(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 15
	}
	rng := rand.New(rand.NewPCG(45, 4))
	names := []string{"greedy", "optimal"}
	var exact [2]int
	var gaps [2][]float64
	solved := 0
	for i := 0; i < n; i++ {
		o := randomOptions(rng)
		o.layers, o.heads, o.bits = 3, 2, []quant.Fidelity{2, 4, 8}
		// Slow enough that a few shards fill the target.
		o.bandwidth /= 8
		st := newStatic(synthProfiles(o, rng))
		p := st.problem(4+rng.IntN(60), 1+rng.IntN(4), RowReads(rng.IntN(2)))
		res := make([]int8, p.N)
		for s := range res {
			res[s] = -1
			if rng.IntN(3) == 0 {
				res[s] = int8(rng.IntN(p.F))
			}
		}
		target := p.allDropped() + int64(rng.Float64()*float64(30*time.Millisecond))
		want := bruteForce(p, res, target)
		var got [2]float64
		for j, algo := range []algorithm{greedyAlgo{}, optimalAlgo{}} {
			opt := algo.plan(p, target, res)
			if opt == nil {
				t.Fatalf("case %d: %s found no plan; the optimum is %v", i, names[j], want)
			}
			if sim := p.simulate(opt, nil); sim > target {
				t.Fatalf("case %d: %s plan takes %d ns, target %d", i, names[j], sim, target)
			}
			got[j] = p.loss(opt)
			if got[j] < want-1e-12 {
				t.Fatalf("case %d: %s loss %v below the optimum %v", i, names[j], got[j], want)
			}
			if got[j] <= want+1e-12 {
				exact[j]++
			}
			gaps[j] = append(gaps[j], got[j]/want-1)
		}
		if got[1] > got[0]+1e-12 {
			t.Fatalf("case %d: optimizer %v worse than greedy %v", i, got[1], got[0])
		}
		solved++
	}
	for j, name := range names {
		t.Logf("%-7s optimal in %d of %d instances; excess loss over the optimum: median %.1f%%, 90th percentile %.1f%%",
			name, exact[j], solved, 100*stats.Median(gaps[j]), 100*stats.Quantile(gaps[j], 0.9))
	}
}

// The optimizer against the paper's planner on random instances of the
// small model, each planning its own resident set and with the same one.
// The numbers are logged for the report (go test -run Compare -v).
func TestCompareOptimalToGreedy(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 30
	}
	rng := rand.New(rand.NewPCG(46, 5))
	type acc struct {
		greedy, optimal float64
		better, n       int
	}
	var own, same acc
	for i := 0; i < n; i++ {
		c := randomCase(rng)
		c.seqLen = DefaultPreloadSeqLen
		var plans [2]*Plan
		for j, strat := range []Strategy{StrategyGreedy, StrategyOptimal} {
			opts := c.opts
			opts.Strategy = strat
			pl, err := New(c.prof, opts)
			if err != nil {
				t.Fatal(err)
			}
			plans[j], _ = pl.Plan(Request{Target: c.target, Budget: c.budget, SeqLen: c.seqLen})
		}
		g, o := plans[0], plans[1]
		if g == nil || o == nil {
			continue
		}
		if o.PredictedLoss > g.PredictedLoss+1e-12 {
			t.Fatalf("case %d: optimizer %v > greedy %v", i, o.PredictedLoss, g.PredictedLoss)
		}
		own.greedy += g.PredictedLoss
		own.optimal += o.PredictedLoss
		own.n++
		if o.PredictedLoss < g.PredictedLoss*(1-1e-9) {
			own.better++
		}
		// Same resident set (the greedy's), a random request length.
		opts := c.opts
		opts.Strategy = StrategyOptimal
		pl, _ := New(c.prof, opts)
		req := Request{Target: c.target, Budget: c.budget, SeqLen: 4 + rng.IntN(140), Preload: &Preload{Shards: g.Preload}}
		o2, err := pl.Plan(req)
		opts.Strategy = StrategyGreedy
		gl, _ := New(c.prof, opts)
		g2, err2 := gl.Plan(req)
		if err != nil || err2 != nil {
			continue
		}
		if o2.PredictedLoss > g2.PredictedLoss+1e-12 {
			t.Fatalf("case %d with the same preload: optimizer %v > greedy %v", i, o2.PredictedLoss, g2.PredictedLoss)
		}
		same.greedy += g2.PredictedLoss
		same.optimal += o2.PredictedLoss
		same.n++
		if o2.PredictedLoss < g2.PredictedLoss*(1-1e-9) {
			same.better++
		}
	}
	for _, r := range []struct {
		name string
		a    acc
	}{{"each its own preload", own}, {"same preload, any length", same}} {
		t.Logf("%-26s n=%d  mean loss greedy %.4f optimal %.4f (%.1f%% lower), optimizer strictly better in %d",
			r.name, r.a.n, r.a.greedy/float64(r.a.n), r.a.optimal/float64(r.a.n), 100*(1-r.a.optimal/r.a.greedy), r.a.better)
	}
}
