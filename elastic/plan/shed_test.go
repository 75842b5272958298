package plan

import (
	"math"
	"math/rand/v2"
	"testing"
)

func ioBytes(p *Plan) int64 {
	var n int64
	for _, r := range p.IO {
		n += r.Bytes
	}
	return n
}

// With a loss tolerance, Plan returns a valid plan within the tolerance of
// the exact answer (same request, same resident set) that reads no more,
// and at large targets it reads less.
func TestLossToleranceReadsLess(t *testing.T) {
	n := 150
	if testing.Short() {
		n = 40
	}
	rng := rand.New(rand.NewPCG(7, 11))
	solved, fewer := 0, 0
	var before, after int64
	for i := 0; i < n; i++ {
		c := randomCase(rng)
		exactPl, err := New(c.prof, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		pre, err := exactPl.Preload(c.target, c.budget)
		if err != nil {
			t.Fatal(err)
		}
		req := Request{Target: c.target, Budget: c.budget, SeqLen: c.seqLen, Preload: pre}
		exact, err := exactPl.Plan(req)
		if err != nil {
			continue // infeasible: nothing to compare
		}
		tol := 0.05*exact.PredictedLoss + 1e-9
		opts := c.opts
		opts.LossTolerance = tol
		pl, err := New(c.prof, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pl.Plan(req)
		if err != nil {
			t.Fatalf("case %d: exact plan exists, tolerant planner refused: %v", i, err)
		}
		tc := c
		tc.opts = opts
		checkPlan(t, tc, got)
		if got.PredictedLoss > exact.PredictedLoss+tol*(1+1e-9) {
			t.Fatalf("case %d: loss %v, more than the exact %v + tolerance %v", i, got.PredictedLoss, exact.PredictedLoss, tol)
		}
		gb, eb := ioBytes(got), ioBytes(exact)
		if gb > eb {
			t.Fatalf("case %d: reads %d bytes, the exact plan %d", i, gb, eb)
		}
		solved++
		before += eb
		after += gb
		if gb < eb {
			fewer++
		}
	}
	t.Logf("%d plans, %d read less with a 5%% loss tolerance; bytes read %d -> %d", solved, fewer, before, after)
	if solved == 0 || fewer == 0 {
		t.Fatalf("%d plans compared, %d read less: the tolerance gave nothing up", solved, fewer)
	}
}

func TestLossToleranceOption(t *testing.T) {
	prof := synthProfiles(randomOptions(rand.New(rand.NewPCG(1, 2))), rand.New(rand.NewPCG(3, 4)))
	for _, bad := range []float64{nan(), math.Inf(1)} {
		if _, err := New(prof, Options{LossTolerance: bad}); err == nil {
			t.Errorf("LossTolerance %v accepted", bad)
		}
	}
	pl, err := New(prof, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pl.(*planner).opts.LossTolerance; got != DefaultLossTolerance {
		t.Errorf("zero LossTolerance became %v, want DefaultLossTolerance", got)
	}
}
