package plan

import (
	"errors"
	"fmt"
	"math"
)

// A lower bound on the loss of any plan for a request, to say how far a
// plan is from the best one.
//
// The timing model is not a sum: IO and compute overlap, and the latency
// is the largest of several sums. The bound relaxes it soundly. The
// K-bounded latency is at least the unbounded one (a full buffer only
// delays reads), which is the largest of the compute bound and the
// per-layer IO bounds (see layerSum). So every assignment that meets T
// satisfies each of these L+1 constraints, all additive over layers:
//
//	C:   Σ_l c_l                      ≤ T − embedIO − embedC − head
//	I_k: Σ_{l≤k} io_l + Σ_{l>k} c_l   ≤ T − embedIO − fixF − head   (k = 0…L−1)
//
// where io_l is the read time of layer l's streamed blobs and c_l its
// compute. C is the compute bound. I_k holds because if some layer k' ≤ k
// streams, the IO bound of the last such layer is at least its reads,
// those of the layers before it, its FFN fixed part and the compute of the
// layers after it (which include the layers from k'+1 to k, none of which
// reads); and if none does, Σ_{l≤k} io_l is zero and the compute bound
// implies I_k, a layer's compute being at least its fixed part.
//
// The K-blob buffer adds one more. A blob's read cannot start before the
// blob K places earlier in the stream has been computed (its buffer is
// free only then), and a blob cannot be computed before it is read. So
// blobs j, j+K, j+2K, … form a chain of reads and computes that run one
// after the other, between the embeddings' reads and the head; summing the
// K chains,
//
//	R:   Σ_streamed (io + c)           ≤ K·(T − embedIO − head)
//
// over every streamed blob (io its read, c its compute). Where K is one or
// two, as budget divisions often choose, R is what binds: C and the I_k let
// reads overlap compute, which the buffer forbids. R is left out for merged
// reads, whose runs take several buffers at once.
//
// Relaxing all of them with multipliers μ ≥ 0 (Lagrangian relaxation)
// makes the problem separable by layer: layer l's reads are charged
// α_l = Σ_{k≥l} μ_k per nanosecond and its compute γ_l = μ_C + Σ_{k<l} μ_k
// (plus μ_R on both for a streamed shard), and each layer's cheapest
// choice is found exactly by trying every shard count n (a shard's compute
// depends on n) and keeping the n shards that gain the most. By weak
// duality the value of the relaxation is a lower bound for every μ ≥ 0;
// the search for a good μ (bisection along each constraint alone, then
// projected subgradient steps on all of them) only decides how tight it
// is. The relaxation also drops the rule that a plan runs at least one
// shard, which can only lower it. When it leaves more than 1% of the
// plan's loss, dpBound (bounddp.go) tries the three main constraints (the
// total reads, C and R) as exact knapsacks too, and the bound is the
// largest.

// lossBound returns a lower bound on the loss of every assignment with
// resident versions res whose simulated latency is at most target, given
// an upper bound ub (the loss of a known such assignment; +Inf if none).
// It returns +Inf when the relaxation proves that no assignment meets
// target.
func (p *problem) lossBound(target int64, res []int8, ub float64) float64 {
	if target < p.allDropped() {
		return math.Inf(1) // even dropping every shard misses the target
	}
	if p.mergeBytes > 0 {
		// A merged read pays the latency once for several blobs: charged
		// only their transfer, no blob costs more than it can.
		p = p.transferOnly()
	}
	b := newBounder(p, res, target)
	lb := b.solve(ub)
	// Where the relaxation leaves more than 1% of ub, the knapsack bounds
	// may close some of it.
	if lb < ub*0.99 {
		for _, hard := range []dpHard{dpHardIO, dpHardCompute, dpHardBuffer} {
			lb = max(lb, p.dpBound(target, res, hard))
		}
	}
	// Rounding: the dual value is a sum of many terms; give back a
	// little more than its error so that the bound stays valid.
	var all float64
	for s := 0; s < p.N; s++ {
		all += p.dropped[s]
	}
	return max(0, lb-1e-12*all)
}

type bounder struct {
	p      *problem
	res    []int8
	rc, ri float64 // right-hand sides of C and of every I_k
	rr     float64 // right-hand side of R; +Inf when R does not apply
	// per-layer solution of the last evaluation (reads, compute, and the
	// reads and compute of its streamed shards), and its assignment
	io, c, sc []float64
	opt       []int16
	tmp       []int16
	// scratch
	gain  []float64
	gio   []float64
	gc    []float64
	gs    []float64
	order []int
	evals int
}

func newBounder(p *problem, res []int8, target int64) *bounder {
	b := &bounder{p: p, res: res}
	b.rc = float64(target - p.embedIO - p.embedC - p.headC)
	b.ri = float64(target - p.embedIO - p.fixF - p.headC)
	b.rr = math.Inf(1)
	if p.K > 0 && p.mergeBytes == 0 {
		b.rr = float64(p.K) * float64(target-p.embedIO-p.headC)
	}
	b.io, b.c, b.sc = make([]float64, p.L), make([]float64, p.L), make([]float64, p.L)
	b.gain, b.gio, b.gc, b.gs = make([]float64, p.H), make([]float64, p.H), make([]float64, p.H), make([]float64, p.H)
	b.order = make([]int, p.H)
	b.opt, b.tmp = p.emptyOpt(), make([]int16, p.H)
	return b
}

// layer returns the least value of layer k's loss + a·reads + g·compute +
// r·(reads and compute of streamed shards) over every choice for its
// shards, and that choice's reads, compute, and streamed reads and compute.
func (b *bounder) layer(k int, a, g, r float64) (val, io, c, sc float64) {
	p := b.p
	F, base := p.F, k*p.H
	fix := float64(p.fixA + p.fixF)
	var dropped float64
	for h := 0; h < p.H; h++ {
		dropped += p.dropped[base+h]
	}
	val, io, c, sc = dropped+g*fix, 0, fix, 0
	for h := 0; h < p.H; h++ {
		b.opt[base+h] = optDrop
	}
	for n := 1; n <= p.H; n++ {
		row := p.half[n*F : (n+1)*F]
		for h := 0; h < p.H; h++ {
			s := base + h
			best, bio, bc, bs := math.Inf(1), 0.0, 0.0, 0.0
			for f := 0; f < F; f++ {
				t := float64(p.ioA[s*F+f] + p.ioF[s*F+f])
				d := float64(2 * row[f])
				if v := p.lossv[s*F+f] + a*t + g*d + r*(t+d); v < best {
					best, bio, bc, bs = v, t, d, t+d
					b.tmp[h] = int16(f)
				}
			}
			if res := int(b.res[s]); res >= 0 {
				d := float64(2 * row[res])
				if v := p.lossv[s*F+res] + g*d; v <= best {
					best, bio, bc, bs = v, 0, d, 0
					b.tmp[h] = int16(F + res)
				}
			}
			b.gain[h], b.gio[h], b.gc[h], b.gs[h] = p.dropped[s]-best, bio, bc, bs
		}
		// The n shards that gain the most (insertion sort: H is small).
		for i := range b.order {
			b.order[i] = i
		}
		for i := 1; i < p.H; i++ {
			for j := i; j > 0 && b.gain[b.order[j]] > b.gain[b.order[j-1]]; j-- {
				b.order[j], b.order[j-1] = b.order[j-1], b.order[j]
			}
		}
		v, vio, vc, vs := dropped+g*fix, 0.0, fix, 0.0
		for _, h := range b.order[:n] {
			v -= b.gain[h]
			vio += b.gio[h]
			vc += b.gc[h]
			vs += b.gs[h]
		}
		if v < val {
			val, io, c, sc = v, vio, vc, vs
			for h := 0; h < p.H; h++ {
				b.opt[base+h] = optDrop
			}
			for _, h := range b.order[:n] {
				b.opt[base+h] = b.tmp[h]
			}
		}
	}
	return val, io, c, sc
}

// dual evaluates the Lagrangian at multipliers mu (mu[0] for C, mu[1+k]
// for I_k, mu[1+L] for R) and fills sub with a subgradient: each
// constraint's left side minus its right side at the minimizing choice
// (0 for R where it does not apply, so that its multiplier stays 0).
func (b *bounder) dual(mu, sub []float64) float64 {
	p := b.p
	b.evals++
	// α_l = Σ_{k≥l} μ_k, γ_l = μ_C + Σ_{k<l} μ_k.
	var total float64
	var sumAfter float64
	for k := 0; k < p.L; k++ {
		sumAfter += mu[1+k]
	}
	before, r := mu[0], mu[1+p.L]
	for l := 0; l < p.L; l++ {
		v, io, c, sc := b.layer(l, sumAfter, before, r)
		b.io[l], b.c[l], b.sc[l] = io, c, sc
		total += v
		sumAfter -= mu[1+l]
		before += mu[1+l]
	}
	total -= mu[0] * b.rc
	for k := 0; k < p.L; k++ {
		total -= mu[1+k] * b.ri
	}
	if r > 0 {
		total -= r * b.rr
	}
	if sub != nil {
		var csum, ssum float64
		for l := 0; l < p.L; l++ {
			csum += b.c[l]
			ssum += b.sc[l]
		}
		sub[0] = csum - b.rc
		var ioBefore, cAfter float64 = 0, csum
		for k := 0; k < p.L; k++ {
			ioBefore += b.io[k]
			cAfter -= b.c[k]
			sub[1+k] = ioBefore + cAfter - b.ri
		}
		sub[1+p.L] = 0
		if !math.IsInf(b.rr, 1) {
			sub[1+p.L] = ssum - b.rr
		}
	}
	return total
}

// solve searches the multipliers and returns the best bound found.
func (b *bounder) solve(ub float64) float64 {
	p := b.p
	m := p.L + 2
	mu, sub := make([]float64, m), make([]float64, m)
	best := b.dual(mu, sub) // μ = 0: every shard at its least loss
	if ub <= best {
		return best
	}
	bestMu := make([]float64, m)
	// λ scale: at λ·1 ns ≥ the whole dropped loss no shard pays for itself.
	var all float64
	for s := 0; s < p.N; s++ {
		all += p.dropped[s]
	}
	if all <= 0 {
		return best
	}
	// The compute bound alone, the total IO bound alone and the buffer's
	// bound alone (the binding ones, mostly), each by bisection on the
	// sign of its subgradient; the subgradient steps below bring in the
	// other layers' IO bounds.
	single := []int{0, p.L}
	if !math.IsInf(b.rr, 1) {
		single = append(single, p.L+1)
	}
	for _, j := range single {
		lo, hi := math.Log(all*1e-14), math.Log(all*2)
		for range 36 {
			x := (lo + hi) / 2
			clear(mu)
			mu[j] = math.Exp(x)
			if v := b.dual(mu, sub); v > best {
				best = v
				copy(bestMu, mu)
			}
			if sub[j] > 0 {
				lo = x // still over: a larger multiplier
			} else {
				hi = x
			}
		}
	}
	if math.IsInf(ub, 1) || best >= ub {
		return best
	}
	// Projected subgradient ascent from the best single constraint, with
	// Polyak steps toward ub.
	copy(mu, bestMu)
	v := b.dual(mu, sub)
	scale := 1.0
	for it := 0; it < 60 && scale > 1e-4; it++ {
		var norm float64
		for j := range sub {
			if mu[j] == 0 && sub[j] < 0 {
				sub[j] = 0 // projection: the step cannot go below zero
			}
			norm += sub[j] * sub[j]
		}
		if norm == 0 {
			break
		}
		t := scale * (ub - v) / norm
		for j := range mu {
			mu[j] = max(0, mu[j]+t*sub[j])
		}
		v = b.dual(mu, sub)
		if v > best {
			best = v
		} else {
			scale /= 2
		}
		if best >= ub*(1-1e-6) {
			break
		}
	}
	return best
}

// LowerBound returns a lower bound on the predicted loss of every plan for
// the request plan answers: the same target, sequence length, cached word
// rows, in-flight blobs, row reads and resident set. Any plan those
// planners could return for it has a loss at least this; PredictedLoss
// minus it bounds how much better the plan could be. It returns +Inf when
// no plan meets the target.
func LowerBound(prof *Profiles, plan *Plan) (float64, error) {
	if err := prof.Validate(); err != nil {
		return 0, err
	}
	if plan == nil {
		return 0, errors.New("plan: lower bound: plan is nil")
	}
	if plan.SeqLen <= 0 || plan.Target <= 0 || plan.InFlightBlobs < 0 || plan.CachedRows < 0 || plan.CachedRows > plan.SeqLen {
		return 0, fmt.Errorf("plan: lower bound: plan has target %v, sequence length %d, %d cached rows and %d in-flight blobs", plan.Target, plan.SeqLen, plan.CachedRows, plan.InFlightBlobs)
	}
	st := newStatic(prof.atDepth(plan.InFlightBlobs))
	res, _, err := st.resident(&Preload{Shards: plan.Preload})
	if err != nil {
		return 0, fmt.Errorf("plan: lower bound: %w", err)
	}
	p := st.problem(plan.SeqLen, plan.InFlightBlobs, plan.RowReads).mergeReads(plan.MaxReadBytes)
	p.readRows(plan.SeqLen - plan.CachedRows)
	return p.lossBound(int64(plan.Target), res, plan.PredictedLoss), nil
}

// Gap is how much of the plan's predicted loss a better plan could still
// save, by the lower bound: (PredictedLoss − LossBound) / PredictedLoss,
// 0 for a plan known to be optimal. It is NaN when the plan carries no
// bound (Options.Bound was not set).
func (p *Plan) Gap() float64 {
	if p.LossBound == nil {
		return math.NaN()
	}
	if p.PredictedLoss <= 0 {
		return 0
	}
	return max(0, (p.PredictedLoss-*p.LossBound)/p.PredictedLoss)
}

// transferOnly returns p with every blob's read time less the read
// latency: what a blob read within a merged read costs.
func (p *problem) transferOnly() *problem {
	sc := &scaledIO{ioA: make([]int64, len(p.ioA)), ioF: make([]int64, len(p.ioF))}
	for i := range p.ioA {
		sc.ioA[i], sc.ioF[i] = max(p.ioA[i]-p.lat, 0), max(p.ioF[i]-p.lat, 0)
	}
	q := p.ws.problem()
	*q = *p
	q.static = p.static.withIO(sc)
	return q
}
