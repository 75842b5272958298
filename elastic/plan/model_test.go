package plan

import (
	"math/rand/v2"
	"testing"
)

// randomAssignment draws options for every shard: dropped, streamed or
// resident at random fidelities (res receives the resident versions).
func randomAssignment(rng *rand.Rand, p *problem) (opt []int16, res []int8) {
	opt, res = make([]int16, p.N), make([]int8, p.N)
	for s := range opt {
		res[s] = -1
		switch rng.IntN(4) {
		case 0:
			opt[s] = optDrop
		case 1:
			f := rng.IntN(p.F)
			res[s] = int8(f)
			opt[s] = int16(p.F + f)
		default:
			opt[s] = int16(rng.IntN(p.F))
		}
	}
	return opt, res
}

// The O(1) per-option layer summary must equal the direct one for every
// option of every shard.
func TestShardCtxMatchesLayerSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 30; i++ {
		p := newStatic(synthProfiles(randomOptions(rng), rng)).problem(8+rng.IntN(120), 4, RowReadsBatched)
		opt, _ := randomAssignment(rng, p)
		for s := 0; s < p.N; s++ {
			k := s / p.H
			x := p.shardCtx(k, opt, s)
			for o := int16(-1); o < int16(2*p.F); o++ {
				io, c, w := x.eval(o)
				wio, wc, ww := p.layerSum(k, opt, s, o)
				if io != wio || c != wc || w != ww {
					t.Fatalf("instance %d shard %d option %d: ctx (%d,%d,%d), layerSum (%d,%d,%d)", i, s, o, io, c, w, wio, wc, ww)
				}
			}
		}
	}
}

// With an unbounded buffer the closed form the planners use must equal the
// event simulation, and an evaluated change must equal applying it.
func TestEvalMatchesUnboundedSimulation(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 200; i++ {
		p := newStatic(synthProfiles(randomOptions(rng), rng)).problem(8+rng.IntN(120), 0, RowReads(rng.IntN(2)))
		opt, _ := randomAssignment(rng, p)
		e := newEval(p, opt)
		if sim := p.simulate(opt, nil); e.lat != sim {
			t.Fatalf("instance %d: closed form %d, simulation %d", i, e.lat, sim)
		}
		s := rng.IntN(p.N)
		o := int16(rng.IntN(2*p.F+1) - 1)
		lat, _, _ := e.try(s, o)
		e.set(s, o)
		if lat != e.lat || lat != p.simulate(opt, nil) {
			t.Fatalf("instance %d: try %d, set %d, simulation %d", i, lat, e.lat, p.simulate(opt, nil))
		}
	}
}

// The K-bounded simulation can only be slower than the unbounded one, and
// with K at least the number of blobs it is the same.
func TestBufferBoundOnlyDelays(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 200; i++ {
		st := newStatic(synthProfiles(randomOptions(rng), rng))
		S := 8 + rng.IntN(120)
		opt, _ := randomAssignment(rng, st.problem(S, 0, RowReadsEach))
		free := st.problem(S, 0, RowReadsEach).simulate(opt, nil)
		k := 1 + rng.IntN(8)
		if got := st.problem(S, k, RowReadsEach).simulate(opt, nil); got < free {
			t.Fatalf("instance %d: K=%d gives %d, unbounded %d", i, k, got, free)
		}
		if got := st.problem(S, 2*st.N, RowReadsEach).simulate(opt, nil); got != free {
			t.Fatalf("instance %d: K=2N gives %d, unbounded %d", i, got, free)
		}
	}
}
