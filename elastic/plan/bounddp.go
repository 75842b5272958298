package plan

import "math"

// The Lagrangian bound is that of the linear relaxation: where a few whole
// shards decide the plan (a loss dominated by some shards' dropped loss)
// it can fall short of the best plan by a shard's worth. dpBound closes
// that gap for one of the totals the bound mostly rests on: it keeps the
// total read time (I_{L−1}), the total compute (C) or the buffer's chains
// (R, see bound.go) as a hard knapsack constraint, solved exactly by
// dynamic programming over the shards with its costs rounded down to bins
// of 1/dpBins of the capacity, and relaxes another (the compute, or for C
// the reads) with a multiplier searched by bisection.
//
// It stays a lower bound: rounding each cost down can only admit more
// assignments (Σ⌊x_i⌋ ≤ ⌊Σx_i⌋), and a shard's compute is counted at its
// least over every shard count of its layer, so every assignment that
// meets the target meets the relaxed constraints.

// dpBins is the resolution of dpBound's knapsack.
const dpBins = 256

// dpHard names the constraint dpBound keeps as its knapsack.
type dpHard int

const (
	dpHardIO      dpHard = iota // I_{L−1}, the compute relaxed
	dpHardCompute               // C, the reads relaxed
	dpHardBuffer                // R, the compute relaxed
)

// dpBound returns the bound with the constraint hard as the knapsack.
func (p *problem) dpBound(target int64, res []int8, hard dpHard) float64 {
	F := p.F
	fix := float64(p.fixA + p.fixF)
	// Least per-shard compute (both halves) at each fidelity, over counts.
	least := make([]float64, F)
	for f := range least {
		least[f] = math.Inf(1)
		for n := 1; n <= p.H; n++ {
			least[f] = min(least[f], float64(2*p.half[n*F+f]))
		}
	}
	ioCap := float64(target - p.embedIO - p.fixF - p.headC)
	cCap := float64(target-p.embedIO-p.embedC-p.headC) - float64(p.L)*fix
	if ioCap < 0 || cCap < 0 {
		return math.Inf(1)
	}
	hardCap, softCap := ioCap, cCap
	switch hard {
	case dpHardCompute:
		hardCap, softCap = cCap, ioCap
	case dpHardBuffer:
		if p.K <= 0 || p.mergeBytes > 0 {
			return 0 // R does not apply
		}
		hardCap = float64(p.K) * float64(target-p.embedIO-p.headC)
	}
	// Each shard's options: (hard cost in bins, soft cost, loss).
	type option struct {
		bins       int
		soft, loss float64
	}
	w := hardCap / dpBins
	opts := make([][]option, p.N)
	for s := range p.N {
		o := []option{{0, 0, p.dropped[s]}}
		add := func(io, c, loss float64, streamed bool) {
			hc, soft := io, c
			switch hard {
			case dpHardCompute:
				hc, soft = c, io
			case dpHardBuffer:
				hc = 0
				if streamed {
					hc = io + c
				}
			}
			b := dpBins + 1 // over any capacity
			if w > 0 {
				b = int(min(math.Floor(hc/w), dpBins+1))
			} else if hc == 0 {
				b = 0
			}
			if b <= dpBins {
				o = append(o, option{b, soft, loss})
			}
		}
		for f := 0; f < F; f++ {
			if res[s] >= 0 && f == int(res[s]) {
				continue
			}
			add(float64(p.ioA[s*F+f]+p.ioF[s*F+f]), least[f], p.lossv[s*F+f], true)
		}
		if r := int(res[s]); r >= 0 {
			add(0, least[r], p.lossv[s*F+r], false)
		}
		opts[s] = o
	}
	dp, nd := make([]float64, dpBins+1), make([]float64, dpBins+1)
	use, nu := make([]float64, dpBins+1), make([]float64, dpBins+1)
	// eval returns min over assignments within the hard capacity of
	// loss + mu·soft, and the soft cost of the minimizer.
	eval := func(mu float64) (float64, float64) {
		clear(dp)
		clear(use)
		for s := range p.N {
			for b := range nd {
				nd[b], nu[b] = math.Inf(1), 0
				for _, o := range opts[s] {
					if o.bins > b {
						continue
					}
					if v := dp[b-o.bins] + o.loss + mu*o.soft; v < nd[b] {
						nd[b], nu[b] = v, use[b-o.bins]+o.soft
					}
				}
			}
			dp, nd = nd, dp
			use, nu = nu, use
		}
		return dp[dpBins], use[dpBins]
	}
	v, u := eval(0)
	if u <= softCap {
		return v // the soft constraint does not bind
	}
	var all float64
	for s := range p.N {
		all += p.dropped[s]
	}
	best := v
	lo, hi := math.Log(all*1e-14), math.Log(all*2)
	for range 30 {
		x := (lo + hi) / 2
		mu := math.Exp(x)
		v, u := eval(mu)
		best = max(best, v-mu*softCap)
		if u > softCap {
			lo = x
		} else {
			hi = x
		}
	}
	return best
}
