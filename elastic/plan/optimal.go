package plan

import (
	"math"
	"slices"
)

// Our optimizer.
//
// Per request (Plan, resident set fixed) it runs a frontier search: from the
// empty plan it repeatedly applies the one-shard change with the largest
// loss reduction per unit of cost, over every shard's options (drop, stream
// at each fidelity, use the resident version). The cost of a change is the
// increase of the predicted latency (the unbounded-K closed form, evaluated
// in O(1) per option after an O(Heads) decomposition of the shard's layer)
// plus a weight β on the compute and read time the change adds, which keeps
// it from spending slack that is free now but needed later. Unlike the
// paper's planner it decides dropping and fidelity jointly, charges every
// read its latency, and sees which deadline binds (the latency is the
// largest of the per-layer IO bounds and the compute bound). A lazy
// priority queue keeps it near O(moves · Heads).
//
// The sequence of plans it passes through does not depend on T; the answer
// for T is the last one whose exact (K-bounded) simulated latency meets T.
// The search stops once its latency exceeds T, a truncation that only grows
// with T, so the answer can only improve as T grows. Plan takes the best of
// two such searches and the paper's planner: each is monotone in T, so
// their minimum is, and it is never worse than the paper's planner for the
// same resident set.
//
// The first search has β = 1/8. The second (searchCfg.exact) ranks its moves
// by the exact K-bounded latency they add instead of the unbounded one, and
// stops on it. Where the K-blob buffer binds, the unbounded searches' exact
// latency runs ahead of the estimate they rank by, and their answer is a
// plan from far back on their path; this one follows the latency that
// decides feasibility. Its path does not depend on T either (a move is
// re-ranked with one simulation, lazily, at most maxReranks per step), so it
// keeps the answer monotone. On the profiles of wrx-sst2-small it found
// plans of up to 24× less loss where the buffer binds. (A third search, β =
// 1/32, added little and cost a third of the time.)
//
// Among candidates of equal loss it keeps the one that reads fewer bytes,
// and then switches each streamed shard to the version of exactly its loss
// that reads the fewest (its resident one reads none) while the target holds
// (fewerBytes), which changes no loss. How far the result can be from the
// best plan is what lossBound (bound.go) bounds.
//
// Preload is where most of the gain is. It chooses the resident set among a
// family of candidates that depend only on B: the paper's first-layer
// fills (one per fidelity) and the resident sets found by the frontier
// search when preloading at each fidelity is also an option, with a
// preloaded byte priced at ρ × the time streaming it takes (ρ = 1/2 and 2;
// the set at the end of the search and the one when the budget first fills
// up). It plans with each at the reference sequence length and keeps the
// best, so Plan with that set at that length returns exactly that plan, and
// the whole Preload-then-Plan flow is monotone in T there too.

type optimalAlgo struct{}

// pathBetas are the resource weights of the frontier searches Plan runs.
var pathBetas = []float64{1.0 / 8}

// exactBeta is the resource weight of the search ranked by exact latency,
// and maxReranks the most moves it ranks exactly per step.
const (
	exactBeta  = 1.0 / 8
	maxReranks = 6
)

type pmove struct {
	s        int32
	from, to int16
}

// frontier is a sequence of moves from the empty plan; lat[i] is the
// unbounded-K latency after the first i moves, and the loss strictly
// decreases with i.
type frontier struct {
	moves []pmove
	lat   []int64
	final []int16
	// saturated is the resident set when the preload budget first could not
	// take another shard (preload search only).
	saturated []int8
}

type searchCfg struct {
	beta float64 // weight of the compute and read time a change adds, in its cost
	// res is the fixed resident set; nil means preloading is an option
	// limited by budget and priced at rho nanoseconds per byte.
	res    []int8
	budget int64
	rho    float64
	// exact ranks each move by the change of the exact (K-bounded)
	// latency, not the unbounded one, and stops the search on it (fixed
	// resident set only).
	exact bool
}

type qitem struct {
	r float64
	s int32
	// v is the search step at which r was computed with the exact
	// latency, plus one; 0 when r is the unbounded-latency estimate.
	v int
}

// pq is a max-heap on r, ties to the smaller shard, so the search is
// deterministic.
type pq []qitem

func (q pq) less(i, j int) bool {
	if q[i].r != q[j].r {
		return q[i].r > q[j].r
	}
	return q[i].s < q[j].s
}

func (q *pq) push(it qitem) {
	*q = append(*q, it)
	h := *q
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *pq) pop() qitem {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.less(l, m) {
			m = l
		}
		if r < n && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

type searcher struct {
	p    *problem
	cfg  searchCfg
	e    *eval
	used int64 // preloaded bytes (preload search)
	minB int64 // the least memory a preloaded version takes
}

// bestMove returns shard s's best change and its ratio; ok is false when
// the shard has no change that lowers the loss.
func (sr *searcher) bestMove(s int) (r float64, to int16, ok bool) {
	p, e := sr.p, sr.e
	cur := e.opt[s]
	curL := p.optLoss(s, cur)
	var curB int64
	if int(cur) >= p.F {
		curB = p.heldBytes(s, int(cur)-p.F)
	}
	k := s / p.H
	x := p.shardCtx(k, e.opt, s)
	// Options: drop, stream at each fidelity, then the resident version
	// (fixed set) or preloading at each fidelity (preload search).
	last := int16(2 * p.F)
	if sr.cfg.res != nil {
		last = int16(p.F)
		if sr.cfg.res[s] >= 0 {
			last++
		}
	}
	for o := optDrop; o < last; o++ {
		if o == int16(p.F) && sr.cfg.res != nil {
			o = int16(p.F) + int16(sr.cfg.res[s])
			last = o + 1
		}
		if o == cur || (sr.cfg.res != nil && int(o) == int(sr.cfg.res[s])) {
			continue // streaming the resident version would read it for nothing
		}
		dl := curL - p.optLoss(s, o)
		if dl <= 0 {
			continue
		}
		var db int64
		if int(o) >= p.F {
			db = p.heldBytes(s, int(o)-p.F)
			if sr.cfg.res == nil && sr.used-curB+db > sr.cfg.budget {
				continue
			}
		}
		db -= curB
		io, c, w := x.eval(o)
		lat, dio, dc := e.tryCtx(k, io, c, w)
		cost := 1 + float64(max(lat-e.lat, 0)) + sr.cfg.beta*float64(max(dc, 0)+max(dio, 0))
		if sr.cfg.res == nil && db > 0 {
			cost += sr.cfg.rho * float64(db)
		}
		if q := dl / cost; !ok || q > r {
			r, to, ok = q, o, true
		}
	}
	return r, to, ok
}

// search builds the frontier until its latency first exceeds stop: a
// truncation that only grows with stop, so the answer stays monotone.
func search(p *problem, cfg searchCfg, stop int64) *frontier {
	sr, fr := p.ws.search()
	*sr = searcher{p: p, cfg: cfg, e: newEval(p, p.emptyOpt())}
	if cfg.res == nil {
		sr.minB = math.MaxInt64
		for s := 0; s < p.N; s++ {
			for f := range p.F {
				sr.minB = min(sr.minB, p.heldBytes(s, f))
			}
		}
	}
	fr.lat = append(fr.lat, sr.e.lat)
	exactLat := p.simulate(sr.e.opt, nil)
	if cfg.exact {
		fr.lat[0] = exactLat
	}
	q := p.ws.searchQueue()
	defer func() { p.ws.keepSearchQueue(q) }()
	for s := 0; s < p.N; s++ {
		if r, _, ok := sr.bestMove(s); ok {
			q.push(qitem{r: r, s: int32(s)})
		}
	}
	step := 0
	// The exact search re-ranks at most maxReranks moves per step, then
	// takes the best of them.
	reranks, bestS, bestTo, bestR := 0, -1, optDrop, 0.0
	accept := func(s int, to int16) bool {
		sr.apply(fr, s, to)
		step++
		reranks, bestS = 0, -1
		exactLat = p.simulate(sr.e.opt, nil)
		fr.lat[len(fr.lat)-1] = exactLat
		if exactLat > stop {
			return false
		}
		if r, _, ok := sr.bestMove(s); ok {
			q.push(qitem{r: r, s: int32(s)})
		}
		return true
	}
	for len(q) > 0 {
		it := q.pop()
		s := int(it.s)
		if cfg.exact && it.v == step+1 {
			// Ranked by its exact latency in this state, and still first.
			_, to, ok := sr.bestMove(s)
			if !ok {
				continue
			}
			if !accept(s, to) {
				break
			}
			continue
		}
		r, to, ok := sr.bestMove(s)
		if !ok {
			continue
		}
		if len(q) > 0 && r < q[0].r {
			q.push(qitem{r: r, s: it.s})
			continue
		}
		if cfg.exact {
			// Re-rank by the exact latency the change adds.
			_, dio, dc := sr.e.try(s, to)
			from := sr.e.opt[s]
			sr.e.opt[s] = to
			lx := p.simulate(sr.e.opt, nil)
			sr.e.opt[s] = from
			dl := p.optLoss(s, from) - p.optLoss(s, to)
			r = dl / (1 + float64(max(lx-exactLat, 0)) + cfg.beta*float64(max(dc, 0)+max(dio, 0)))
			q.push(qitem{r: r, s: it.s, v: step + 1})
			if reranks++; bestS < 0 || r > bestR {
				bestS, bestTo, bestR = s, to, r
			}
			if reranks >= maxReranks {
				if !accept(bestS, bestTo) {
					break
				}
			}
			continue
		}
		sr.apply(fr, s, to)
		if cfg.res == nil && fr.saturated == nil && cfg.budget-sr.used < sr.minB {
			fr.saturated = residentOf(p, sr.e.opt, nil)
		}
		if sr.e.lat > stop {
			break
		}
		if r, _, ok := sr.bestMove(s); ok {
			q.push(qitem{r: r, s: it.s})
		}
	}
	fr.final = sr.e.opt
	return fr
}

// apply makes the move of shard s to option to and records it.
func (sr *searcher) apply(fr *frontier, s int, to int16) {
	p := sr.p
	from := sr.e.opt[s]
	if int(from) >= p.F {
		sr.used -= p.heldBytes(s, int(from)-p.F)
	}
	if int(to) >= p.F {
		sr.used += p.heldBytes(s, int(to)-p.F)
	}
	sr.e.set(s, to)
	fr.moves = append(fr.moves, pmove{s: int32(s), from: from, to: to})
	fr.lat = append(fr.lat, sr.e.lat)
}

// residentOf is the resident set an assignment uses, in res when it is
// not nil.
func residentOf(p *problem, opt []int16, res []int8) []int8 {
	if res == nil {
		res = p.ws.int8s(p.N)
	}
	for s, o := range opt {
		res[s] = -1
		if int(o) >= p.F {
			res[s] = int8(int(o) - p.F)
		}
	}
	return res
}

// best returns the last frontier plan whose exact latency meets target, or
// nil if none does.
func (fr *frontier) best(p *problem, target int64) []int16 {
	c := p.ws.clone16(fr.final)
	for i := len(fr.moves); ; i-- {
		if fr.lat[i] <= target && p.simulate(c, nil) <= target {
			return c
		}
		if i == 0 {
			return nil
		}
		mv := fr.moves[i-1]
		c[mv.s] = mv.from
	}
}

func (optimalAlgo) plan(p *problem, target int64, res []int8) []int16 {
	best := greedyAlgo{}.plan(p, target, res)
	bestLoss := math.Inf(1)
	if best != nil {
		bestLoss = p.loss(best)
	}
	var candArr [8][]int16 // no heap for the few candidates
	cands := candArr[:0]
	for _, beta := range pathBetas {
		cands = append(cands, search(p, searchCfg{beta: beta, res: res}, target).best(p, target))
	}
	cands = append(cands, search(p, searchCfg{beta: exactBeta, res: res, exact: true}, target).best(p, target))
	for _, c := range cands {
		if c == nil {
			continue
		}
		if l := p.loss(c); l < bestLoss || (l == bestLoss && p.readBytes(c) < p.readBytes(best)) {
			best, bestLoss = c, l
		}
	}
	if best != nil {
		p.fewerBytes(best, res, target)
	}
	return best
}

// fewerBytes switches, in place, each streamed shard of opt to the version
// that reads the fewest bytes among those of exactly its loss (a smaller
// stream, or its resident version, which reads none), when the plan still
// meets target: of plans of equal predicted loss, the one that reads less.
// The loss does not change, so neither does any guarantee about it.
func (p *problem) fewerBytes(opt []int16, res []int8, target int64) {
	for s, o := range opt {
		if o < 0 || int(o) >= p.F {
			continue
		}
		l, b := p.lossv[s*p.F+int(o)], p.shardBytes(s, int(o))
		best, bestB := o, b
		if r := res[s]; r >= 0 && p.lossv[s*p.F+int(r)] == l {
			best, bestB = int16(p.F)+int16(r), 0
		}
		for f := 0; f < p.F; f++ {
			if fb := p.shardBytes(s, f); p.lossv[s*p.F+f] == l && fb < bestB {
				best, bestB = int16(f), fb
			}
		}
		if best == o {
			continue
		}
		opt[s] = best
		if p.simulate(opt, nil) > target {
			opt[s] = o
		}
	}
}

// readBytes is the bytes an assignment reads: its streamed blobs.
func (p *problem) readBytes(opt []int16) int64 {
	var n int64
	for s, o := range opt {
		if o >= 0 && int(o) < p.F {
			n += p.shardBytes(s, int(o))
		}
	}
	return n
}

// preloadRhos price a preloaded byte, as a multiple of the time streaming it
// would take, in the preload searches.
var preloadRhos = []float64{0.5, 2}

func (a optimalAlgo) preload(p *problem, target, budget int64) []int8 {
	cands := firstLayerFills(p.ws, p.static, budget)
	perByte := 1e9 / p.prof.Device.ReadBandwidth
	for _, rho := range preloadRhos {
		final, saturated := p.ws.int8s(p.N), p.ws.int8s(p.N)
		m := p.ws.mark()
		fr := search(p, searchCfg{beta: 1.0 / 8, budget: budget, rho: rho * perByte}, math.MaxInt64)
		cands = append(cands, residentOf(p, fr.final, final))
		if fr.saturated != nil {
			copy(saturated, fr.saturated)
			cands = append(cands, saturated)
		}
		p.ws.rewind(m)
	}
	var best []int8
	bestLoss := math.Inf(1)
	for i, res := range cands {
		if slices.ContainsFunc(cands[:i], func(c []int8) bool { return slices.Equal(c, res) }) {
			continue
		}
		m := p.ws.mark()
		if c := a.plan(p, target, res); c != nil {
			if l := p.loss(c); l < bestLoss {
				best, bestLoss = res, l
			}
		}
		p.ws.rewind(m)
	}
	if best == nil {
		return residentOf(p, p.emptyOpt(), nil) // nothing meets the target: keep nothing
	}
	return best
}
