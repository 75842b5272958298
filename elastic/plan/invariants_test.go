package plan

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// planCase is one random planning instance.
type planCase struct {
	prof   *Profiles
	opts   Options
	target time.Duration
	budget int64
	seqLen int
}

func randomCase(rng *rand.Rand) planCase {
	prof := synthProfiles(randomOptions(rng), rng)
	// Exact losses: these cases check the searches themselves; what
	// LossTolerance gives up is checked in shed_test.go.
	opts := Options{InFlight: 1 + rng.IntN(8), RowReads: RowReads(rng.IntN(2)), LossTolerance: -1}
	if rng.IntN(2) == 0 {
		// Half the cases hold their low fidelities decoded in up to twice
		// their blobs' size (as 2- and 3-bit codes spread into nibbles),
		// which a preload pays for.
		g := prof.Geometry
		for l := range g.Sizes {
			for h := range g.Sizes[l] {
				for i, b := range g.Bits {
					if b < 4 {
						g.Sizes[l][h][i].Held = int64(rng.IntN(3)) * g.Sizes[l][h][i].Total() / 2
					}
				}
			}
		}
	}
	if rng.IntN(2) == 0 {
		// Half the cases merge reads, up to 256 KiB to 2 MiB.
		prof.Geometry.Contiguous = true
		opts.MaxReadBytes = int64(1+rng.IntN(8)) << 18
	}
	seqLen := 4 + rng.IntN(140)
	if rng.IntN(3) == 0 {
		seqLen = DefaultPreloadSeqLen
	}
	floor := newStatic(prof).problem(seqLen, opts.InFlight, opts.RowReads).allDropped()
	// Around the smallest latency, or up to well past it.
	target := time.Duration(float64(floor) * (0.9 + 0.15*rng.Float64()))
	if rng.IntN(4) > 0 {
		target += time.Duration(rng.Float64() * float64(120*time.Millisecond))
	}
	return planCase{prof: prof, opts: opts, target: target, budget: int64(rng.IntN(6 << 20)), seqLen: seqLen}
}

// lossOfPlan recomputes a plan's loss from the importance profile alone.
func lossOfPlan(t *testing.T, prof *Profiles, plan *Plan) float64 {
	t.Helper()
	im := prof.Importance
	sum := 0.0
	for l, lp := range plan.Layers {
		ran := map[int]bool{}
		for _, c := range lp.Shards {
			i := slices.Index(im.Bits, c.Bits)
			if i < 0 {
				t.Fatalf("plan runs layer %d head %d at %d bits, which the profile lacks", l, c.Head, c.Bits)
			}
			sum += im.Shards[l][c.Head].Loss[i]
			ran[c.Head] = true
		}
		for h := 0; h < im.Heads; h++ {
			if !ran[h] {
				sum += im.Shards[l][h].Dropped
			}
		}
	}
	return sum
}

// checkPlan verifies what every returned plan must satisfy.
func checkPlan(t *testing.T, c planCase, plan *Plan) {
	t.Helper()
	shards := 0
	for _, l := range plan.Layers {
		shards += len(l.Shards)
	}
	if shards == 0 {
		t.Fatalf("the plan runs no shard: its answer cannot depend on the input")
	}
	if plan.PreloadBytes > c.budget {
		t.Fatalf("preload holds %d bytes, over the budget %d", plan.PreloadBytes, c.budget)
	}
	var preBytes int64
	g := c.prof.Geometry
	for _, v := range plan.Preload {
		preBytes += v.Bytes + g.Sizes[v.Layer][v.Head][slices.Index(g.Bits, v.Bits)].Held
	}
	if preBytes != plan.PreloadBytes {
		t.Fatalf("preload lists %d bytes, plan says %d", preBytes, plan.PreloadBytes)
	}
	tm, err := Simulate(plan, c.prof)
	if err != nil {
		t.Fatalf("Simulate: %v", err)
	}
	if tm.Latency != plan.PredictedLatency || tm.Latency > c.target {
		t.Fatalf("simulated latency %v, plan predicts %v, target %v", tm.Latency, plan.PredictedLatency, c.target)
	}
	for l, lt := range tm.Layers {
		if lt.Start != plan.Layers[l].Start || lt.Finish != plan.Layers[l].Finish {
			t.Fatalf("layer %d: simulated %v..%v, plan says %v..%v", l, lt.Start, lt.Finish, plan.Layers[l].Start, plan.Layers[l].Finish)
		}
	}
	if want := lossOfPlan(t, c.prof, plan); math.Abs(want-plan.PredictedLoss) > 1e-9 {
		t.Fatalf("plan's loss %v, its choices sum to %v", plan.PredictedLoss, want)
	}
	var largest int64
	for _, r := range plan.IO {
		largest = max(largest, r.Bytes)
	}
	if plan.InFlightBlobs != c.opts.InFlight || plan.InFlightBytes != int64(c.opts.InFlight)*largest {
		t.Fatalf("in flight: %d blobs, %d bytes; want %d × %d", plan.InFlightBlobs, plan.InFlightBytes, c.opts.InFlight, largest)
	}
}

// checkMinTarget verifies an infeasibility error: the reported minimum
// target is accepted and one nanosecond less is not.
func checkMinTarget(t *testing.T, pl Planner, c planCase, pre *Preload, err error) {
	t.Helper()
	var ie *InfeasibleError
	if !errors.As(err, &ie) {
		t.Fatalf("Plan: %v, want an *InfeasibleError", err)
	}
	if ie.MinTarget <= c.target {
		t.Fatalf("infeasible at %v but the minimum target %v is not above it", c.target, ie.MinTarget)
	}
	for _, tc := range []struct {
		target time.Duration
		ok     bool
	}{{ie.MinTarget, true}, {ie.MinTarget - 1, false}} {
		_, err := pl.Plan(Request{Target: tc.target, Budget: c.budget, SeqLen: c.seqLen, Preload: pre})
		if (err == nil) != tc.ok {
			t.Fatalf("at %v (minimum %v): %v, want feasible=%v", tc.target, ie.MinTarget, err, tc.ok)
		}
	}
}

func TestPlanInvariants(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 15
	}
	rng := rand.New(rand.NewPCG(42, 1))
	for i := 0; i < n; i++ {
		c := randomCase(rng)
		for _, strat := range Strategies() {
			opts := c.opts
			opts.Strategy = strat
			pl, err := New(c.prof, opts)
			if err != nil {
				t.Fatal(err)
			}
			req := Request{Target: c.target, Budget: c.budget, SeqLen: c.seqLen}
			plan, err := pl.Plan(req)
			if err != nil {
				checkMinTarget(t, pl, c, nil, err)
				continue
			}
			checkPlan(t, c, plan)

			// Deterministic: a fresh planner gives the identical plan.
			pl2, _ := New(c.prof, opts)
			again, err := pl2.Plan(req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(plan, again); diff != "" {
				t.Fatalf("case %d %s: plans differ (-first +second):\n%s", i, strat, diff)
			}

			// Monotone in T with the resident set fixed, at any length.
			fixed := &Preload{Shards: plan.Preload, Bytes: plan.PreloadBytes}
			larger := c.target + time.Duration(rng.Float64()*float64(c.target/4))
			more, err := pl.Plan(Request{Target: larger, Budget: c.budget, SeqLen: c.seqLen, Preload: fixed})
			if err != nil {
				t.Fatalf("case %d %s: feasible at %v but not at %v: %v", i, strat, c.target, larger, err)
			}
			if more.PredictedLoss > plan.PredictedLoss+1e-12 {
				t.Fatalf("case %d %s: loss %v at %v but %v at %v with the same preload", i, strat, plan.PredictedLoss, c.target, more.PredictedLoss, larger)
			}
		}
	}
}

// At the reference length the whole flow (choose the resident set, then
// plan) is monotone in T, and the optimizer is never worse than the paper's
// planner, with the same resident set or each with its own.
func TestPlanMonotoneAndOptimalVsGreedy(t *testing.T) {
	n := 40
	if testing.Short() {
		n = 10
	}
	rng := rand.New(rand.NewPCG(43, 2))
	for i := 0; i < n; i++ {
		c := randomCase(rng)
		c.seqLen = DefaultPreloadSeqLen
		targets := []time.Duration{c.target}
		for range 3 {
			targets = append(targets, targets[len(targets)-1]+time.Duration(rng.Float64()*float64(c.target/3)))
		}
		planners := map[Strategy]Planner{}
		for _, strat := range Strategies() {
			opts := c.opts
			opts.Strategy = strat
			planners[strat], _ = New(c.prof, opts)
		}
		for _, strat := range Strategies() {
			prev := math.Inf(1)
			for _, target := range targets {
				plan, err := planners[strat].Plan(Request{Target: target, Budget: c.budget, SeqLen: c.seqLen})
				if err != nil {
					if !math.IsInf(prev, 1) {
						t.Fatalf("case %d %s: feasible below %v but not at it: %v", i, strat, target, err)
					}
					continue
				}
				if plan.PredictedLoss > prev+1e-12 {
					t.Fatalf("case %d %s: loss rises to %v at %v from %v", i, strat, plan.PredictedLoss, target, prev)
				}
				prev = plan.PredictedLoss
			}
		}
		for _, target := range targets {
			req := Request{Target: target, Budget: c.budget, SeqLen: c.seqLen}
			g, err := planners[StrategyGreedy].Plan(req)
			if err != nil {
				continue
			}
			o, err := planners[StrategyOptimal].Plan(req)
			if err != nil {
				t.Fatalf("case %d: greedy plans %v but the optimizer fails: %v", i, target, err)
			}
			if o.PredictedLoss > g.PredictedLoss+1e-12 {
				t.Fatalf("case %d at %v: optimizer loss %v > greedy %v", i, target, o.PredictedLoss, g.PredictedLoss)
			}
			req.Preload = &Preload{Shards: g.Preload}
			o, err = planners[StrategyOptimal].Plan(req)
			if err != nil || o.PredictedLoss > g.PredictedLoss+1e-12 {
				t.Fatalf("case %d at %v with the greedy's preload: optimizer %v (%v), greedy %v", i, target, o, err, g.PredictedLoss)
			}
		}
	}
}

// With a loss ceiling the minimum target and budget come from bisection on
// the planner itself; both must be boundaries.
func TestInfeasibleWithLossCeiling(t *testing.T) {
	rng := rand.New(rand.NewPCG(44, 3))
	checked := 0
	for i := 0; i < 40 && checked < 4; i++ {
		c := randomCase(rng)
		c.seqLen = DefaultPreloadSeqLen
		c.opts.MaxLoss = 0.02 + 0.1*rng.Float64()
		pl, err := New(c.prof, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = pl.Plan(Request{Target: c.target, Budget: c.budget, SeqLen: c.seqLen})
		var ie *InfeasibleError
		if !errors.As(err, &ie) || ie.MinTarget == 0 {
			continue
		}
		checked++
		checkMinTarget(t, pl, c, nil, err)
		if ie.MinBudget < 0 {
			continue
		}
		for _, tc := range []struct {
			budget int64
			ok     bool
		}{{ie.MinBudget, true}, {ie.MinBudget - 1, false}} {
			if tc.budget < 0 {
				continue
			}
			_, err := pl.Plan(Request{Target: c.target, Budget: tc.budget, SeqLen: c.seqLen})
			if (err == nil) != tc.ok {
				t.Fatalf("case %d at budget %d (minimum %d): %v, want feasible=%v", i, tc.budget, ie.MinBudget, err, tc.ok)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no random case was infeasible under the loss ceiling")
	}
}
