package elastic

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
// The preload buffer (Preload) is filled with the first layers' shards at
// the lowest fidelity, in IO order, until the next one would not fit; when
// the whole model fits, what is left upgrades the resident versions in the
// same loss-per-byte order. It depends only on B.
//
// Monotone in T. The paper keeps exactly the stage-1 set, whose size m(T)
// grows with T, but the best plan for a larger kept set can be worse (its
// extra shards eat the IO that upgrades would have used). So for each m up
// to m(T) the planner considers the paper's plan built on the m most
// important shards and returns the best of them. For a fixed m, the stage-2
// result is the longest prefix of a fixed upgrade sequence that is
// feasible, which only grows with T; the set of m considered also only
// grows with T; hence the returned loss never increases with T. A
// two-pointer sweep makes this cheap: removing a shard only lowers every
// latency, so the upgrade walk for m-1 continues where the walk for m
// stopped.

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
				db := st.shardBytes(s, j) - st.shardBytes(s, i)
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

func (greedyAlgo) preload(p *problem, _, budget int64) []int8 {
	return greedyPreload(p.static, budget)
}

// greedyPreload fills the buffer with the first layers' shards at the
// lowest fidelity, then upgrades them if the whole model fit.
func greedyPreload(st *static, budget int64) []int8 {
	res := make([]int8, st.N)
	for i := range res {
		res[i] = -1
	}
	var used int64
	for s := 0; s < st.N; s++ {
		b := st.shardBytes(s, 0)
		if used+b > budget {
			return res
		}
		res[s] = 0
		used += b
	}
	for _, u := range st.steps {
		if int16(res[u.s]) != u.from {
			continue
		}
		extra := st.shardBytes(int(u.s), int(u.to)) - st.shardBytes(int(u.s), int(u.from))
		if used+extra <= budget {
			res[u.s] = int8(u.to)
			used += extra
		}
	}
	return res
}

func (greedyAlgo) plan(p *problem, target int64, res []int8) []int16 {
	st := p.static
	opt := p.emptyOpt()
	keep := func(s int32) int16 {
		if res[s] >= 0 {
			return int16(p.F) + int16(res[s])
		}
		return 0
	}
	e := newEval(p, opt)
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
	cur := p.loss(opt)
	var best []int16
	bestLoss := math.Inf(1)
	ptr := 0
	var applied []int32
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
		if cur >= bestLoss {
			continue
		}
		if c, l := exactPrefix(p, opt, cur, applied, bestLoss, target); c != nil {
			best, bestLoss = c, l
		}
	}
	return best
}

// exactPrefix checks opt with the K-bounded simulation and, on a miss,
// undoes the applied upgrades from the last one until it fits. It gives
// up (nil) once the loss is no better than bound.
func exactPrefix(p *problem, opt []int16, loss float64, applied []int32, bound float64, target int64) ([]int16, float64) {
	if p.simulate(opt, nil) <= target {
		return slices.Clone(opt), loss
	}
	st := p.static
	c := slices.Clone(opt)
	for i := len(applied) - 1; i >= 0; i-- {
		u := st.steps[applied[i]]
		if c[u.s] != u.to {
			continue // that shard was dropped for a smaller candidate
		}
		c[u.s] = u.from
		loss += st.lossv[int(u.s)*st.F+int(u.from)] - st.lossv[int(u.s)*st.F+int(u.to)]
		if loss >= bound {
			return nil, 0
		}
		if p.simulate(c, nil) <= target {
			return c, loss
		}
	}
	return nil, 0
}
