package plan

import (
	"cmp"
	"math"
	"slices"
)

// The paper's two-pass planner (STI, arXiv 2207.05022), on our timing
// model.
//
// Stage 1 keeps shards in order of importance (largest Dropped loss first)
// as long as the compute of the kept set, run back to back, fits in T.
//
// Stage 2 starts every kept shard at the lowest fidelity, its resident
// version when it has one, and checks the accumulated IO budget: with the
// unbounded-K model, the IO before each of layer k's items must arrive by
// the time that item is due, which is exactly "latency ≤ T". It then walks
// the fidelity upgrades in order of loss reduction per extra byte and
// applies them while the deadline holds, stopping at the first that
// breaks it. The result is checked with the exact K-bounded simulation,
// undoing the last upgrades if that finds a miss.
//
// Like the paper, the greedy treats compute as independent of fidelity: its
// exact checks give every shard the compute of its slowest fidelity (the
// largest dequantisation factor), which can only overestimate, so its
// plans stay feasible under the true model. That makes latency monotone
// along the upgrade sequence (upgrades only lengthen reads, and the model
// is built from max and +), so the exact check can bisect. The walk itself
// uses the unbounded-K closed form with every shard at the smallest
// per-shard compute of any shard count: a lower bound on the exact model,
// in which removing a shard only removes work.
//
// The preload buffer (Preload) holds the first layers' shards, in IO order,
// until the next one would not fit; when the whole model fits, what is left
// upgrades the resident versions in the same loss-per-byte order. The paper
// sizes this buffer to cover the start of the pipeline; the fidelity of the
// resident versions is the one free choice, so Preload tries each stored
// fidelity and keeps the fill that plans best at the reference sequence
// length. Every candidate depends only on B.
//
// Monotone in T. The paper keeps exactly the stage-1 set, whose size m(T)
// grows with T, but the best plan for a larger kept set can be worse (its
// extra shards eat the IO that upgrades would have used). So for each m up
// to m(T) the planner considers the paper's plan built on the m most
// important shards and returns the best of them. For a fixed m, the stage-2
// result is the longest prefix of a fixed upgrade sequence that is
// feasible (every shorter prefix passing the walk's check, the prefix
// itself passing the exact one), which only grows with T; the set of m
// considered also only grows with T; hence the returned loss never
// increases with T. A two-pointer sweep makes this cheap: in the walk's
// model removing a shard only lowers every latency, so the walk for m-1
// continues where the walk for m stopped.

type greedyAlgo struct{}

// upgrade is one step of a shard's fidelity ladder.
type upgrade struct {
	s        int32
	from, to int16
	ratio    float64 // loss reduction per extra byte
}

// greedyTables computes the importance order and the upgrade sequence,
// which depend on nothing but the profiles.
func (st *static) greedyTables() {
	st.order = make([]int32, st.N)
	for s := range st.order {
		st.order[s] = int32(s)
	}
	slices.SortStableFunc(st.order, func(a, b int32) int {
		return cmp.Compare(st.dropped[b], st.dropped[a])
	})
	st.steps = st.steps[:0]
	for s := 0; s < st.N; s++ {
		// Lower convex hull of (bytes, loss) from the lowest fidelity:
		// each step takes the best loss reduction per byte from where the
		// shard is.
		i := 0
		for {
			best, bestR := -1, 0.0
			for j := i + 1; j < st.F; j++ {
				dl := st.lossv[s*st.F+i] - st.lossv[s*st.F+j]
				if dl <= 0 {
					continue
				}
				db := st.heldBytes(s, j) - st.heldBytes(s, i)
				r := math.Inf(1)
				if db > 0 {
					r = dl / float64(db)
				}
				if best < 0 || r > bestR {
					best, bestR = j, r
				}
			}
			if best < 0 {
				break
			}
			st.steps = append(st.steps, upgrade{s: int32(s), from: int16(i), to: int16(best), ratio: bestR})
			i = best
		}
	}
	// The hull makes each shard's ratios nonincreasing, so a stable sort
	// keeps every shard's steps in ladder order.
	slices.SortStableFunc(st.steps, func(a, b upgrade) int { return cmp.Compare(b.ratio, a.ratio) })
}

func (a greedyAlgo) preload(p *problem, target, budget int64) []int8 {
	cands := firstLayerFills(p.ws, p.static, budget)
	best, bestLoss := cands[0], math.Inf(1)
	for _, res := range cands {
		m := p.ws.mark()
		if c := a.plan(p, target, res); c != nil {
			if l := p.loss(c); l < bestLoss {
				best, bestLoss = res, l
			}
		}
		p.ws.rewind(m)
	}
	return best
}

// firstLayerFills returns, for each fidelity, the buffer filled with the
// first layers' shards at that fidelity (see fillFirstLayers).
func firstLayerFills(ws *scratch, st *static, budget int64) [][]int8 {
	var out [][]int8
	for f := 0; f < st.F; f++ {
		res := fillFirstLayers(ws, st, budget, f)
		if !slices.ContainsFunc(out, func(c []int8) bool { return slices.Equal(c, res) }) {
			out = append(out, res)
		}
	}
	return out
}

// fillFirstLayers fills the buffer with the first layers' shards at
// fidelity f, in IO order, until the next would not fit; if the whole model
// fits, the rest of the budget upgrades them by loss reduction per byte.
func fillFirstLayers(ws *scratch, st *static, budget int64, f int) []int8 {
	res := ws.int8s(st.N)
	for i := range res {
		res[i] = -1
	}
	var used int64
	for s := 0; s < st.N; s++ {
		b := st.heldBytes(s, f)
		if used+b > budget {
			return res
		}
		res[s] = int8(f)
		used += b
	}
	for _, u := range st.steps {
		if int16(res[u.s]) != u.from {
			continue
		}
		extra := st.heldBytes(int(u.s), int(u.to)) - st.heldBytes(int(u.s), int(u.from))
		if used+extra <= budget {
			res[u.s] = int8(u.to)
			used += extra
		}
	}
	return res
}

func (greedyAlgo) plan(p *problem, target int64, res []int8) []int16 {
	pe := p.uniformCompute() // exact checks
	pw := pe.flatCompute()   // the walk
	st := p.static
	opt := p.emptyOpt()
	keep := func(s int32) int16 {
		if res[s] >= 0 {
			return int16(p.F) + int16(res[s])
		}
		return 0
	}
	e := newEval(pe, opt)
	// Stage 1: the most important shards whose compute fits.
	m := 0
	for ; m < st.N; m++ {
		s := st.order[m]
		e.set(int(s), keep(s))
		if e.pre[0] > target { // pre[0] is the compute bound
			e.set(int(s), optDrop)
			break
		}
	}
	e = newEval(pw, opt)
	cur := p.loss(opt)
	// Each candidate's unbounded-K result is a lower bound on its loss
	// after the exact check (which can only undo upgrades), so candidates
	// are checked in increasing order of it until none can win.
	cands, applied := p.ws.greedyCands(), p.ws.appliedSteps()
	ptr := 0
	for top := m; m >= 0; m-- {
		if m < top {
			s := st.order[m]
			cur += st.dropped[s] - st.optLoss(int(s), opt[s])
			e.set(int(s), optDrop)
		}
		if e.lat > target {
			continue // the lowest fidelities already miss; fewer shards may not
		}
		// Stage 2: upgrades while the deadline holds.
		for ptr < len(st.steps) {
			u := st.steps[ptr]
			if opt[u.s] != u.from {
				ptr++ // not kept, resident, or dropped since
				continue
			}
			if lat, _, _ := e.try(int(u.s), u.to); lat > target {
				break
			}
			cur += st.lossv[int(u.s)*st.F+int(u.to)] - st.lossv[int(u.s)*st.F+int(u.from)]
			e.set(int(u.s), u.to)
			applied = append(applied, int32(ptr))
			ptr++
		}
		cands = append(cands, greedyCand{p.ws.clone16(opt), cur, len(applied)})
	}
	p.ws.keepGreedy(cands, applied)
	// Stable: among equal losses the larger kept set (found first) wins.
	slices.SortStableFunc(cands, func(a, b greedyCand) int { return cmp.Compare(a.loss, b.loss) })
	var best []int16
	bestLoss := math.Inf(1)
	for _, c := range cands {
		if c.loss >= bestLoss {
			break
		}
		if o, l := exactPrefix(pe, c.opt, c.loss, applied[:c.applied], bestLoss, target); o != nil {
			best, bestLoss = o, l
		}
	}
	return best
}

// greedyCand is one candidate of the greedy walk: its assignment, the loss
// it predicts, and how many of the walk's upgrades it applied.
type greedyCand struct {
	opt     []int16
	loss    float64
	applied int
}

// exactPrefix checks opt with the K-bounded simulation and, on a miss,
// undoes the applied upgrades (those of shards still at the step's target
// fidelity, latest first) until it fits, modifying opt. Latency only grows
// along the upgrade sequence, so it bisects on the number undone. It gives
// up (nil) when even undoing all of them misses, or when the loss would be
// no better than bound.
func exactPrefix(p *problem, opt []int16, loss float64, applied []int32, bound float64, target int64) ([]int16, float64) {
	st := p.static
	gain := func(u upgrade) float64 {
		return st.lossv[int(u.s)*st.F+int(u.from)] - st.lossv[int(u.s)*st.F+int(u.to)]
	}
	// tail holds the steps that may be undone, latest first: those of
	// shards still kept, as long as undoing them keeps the loss below
	// bound.
	tail := p.ws.undoable()
	for i, l := len(applied)-1, loss; i >= 0; i-- {
		u := st.steps[applied[i]]
		if opt[u.s] < 0 {
			continue // dropped for a smaller candidate
		}
		if l += gain(u); l >= bound {
			break
		}
		tail = append(tail, u)
	}
	p.ws.keepUndoable(tail)
	done := 0 // steps of tail undone in opt
	undo := func(n int) {
		for ; done < n; done++ {
			opt[tail[done].s] = tail[done].from
		}
		for ; done > n; done-- {
			opt[tail[done-1].s] = tail[done-1].to
		}
	}
	// If undoing all of tail still misses, no undo that could win fits:
	// one simulation rejects most candidates.
	most := len(tail)
	undo(most)
	if p.simulate(opt, nil) > target {
		return nil, 0
	}
	undo(0)
	if most == 0 || p.simulate(opt, nil) <= target {
		return opt, loss
	}
	lo, hi := 0, most // lo misses, hi fits
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		undo(mid)
		if p.simulate(opt, nil) <= target {
			hi = mid
		} else {
			lo = mid
		}
	}
	undo(hi)
	for _, u := range tail[:hi] {
		loss += gain(u)
	}
	return opt, loss
}
