package plan

import "math"

// DefaultLossTolerance is Options.LossTolerance when it is zero, in the
// unit of the importance profile's losses (the mean KL divergence from the
// full model's outputs, in nats). A plan within 1e-5 nats of another moves
// a two-class logit by about 0.01: no measured accuracy tells them apart
// (on wrx-sst2-small, plans predicted at 2·10⁻⁴ already score the full
// model's accuracy), while the better one may read many megabytes more.
const DefaultLossTolerance = 1e-5

// shed lowers, in place, the bytes opt reads while its predicted loss
// stays within tol of where it started (and at most maxLoss, when that is
// positive) and its simulated latency meets target: plans that close are
// of equal quality, and of those the planner returns one that reads less.
// At large targets the searches spend the slack on reads that buy almost
// nothing (every shard at 32 bits where 3 bits are as good); on a device
// that pays for each byte in energy and in the bandwidth other programs
// share, that is waste.
//
// It is a greedy on the knapsack of what can be given up: each step takes
// the change to a streamed shard (a smaller version, its resident one, or
// dropping it) that saves the most bytes per unit of loss it adds, among
// those that fit the loss left and keep the plan running a shard. A
// change that misses target when simulated freezes that shard. Changes
// that add no loss come first (fewerBytes has already made those that
// keep the loss exactly).
func (p *problem) shed(opt []int16, res []int8, target int64, tol, maxLoss float64) {
	if tol <= 0 {
		return
	}
	loss := p.loss(opt)
	limit := loss + tol
	if maxLoss > 0 {
		limit = min(limit, max(loss, maxLoss))
	}
	running := 0
	for _, o := range opt {
		if o >= 0 {
			running++
		}
	}
	frozen := p.ws.int8s(len(opt)) // zeroed by the arena
	for {
		bestS, bestTo, bestR := -1, int16(0), math.Inf(-1)
		for s, o := range opt {
			if o < 0 || int(o) >= p.F || frozen[s] != 0 {
				continue // dropped, resident (reads nothing) or frozen
			}
			from, bytes := p.optLoss(s, o), p.shardBytes(s, int(o))
			consider := func(to int16, saved int64) {
				d := p.optLoss(s, to) - from
				if saved <= 0 || loss+d > limit {
					return
				}
				r := float64(saved) / max(d, 1e-300)
				if r > bestR {
					bestS, bestTo, bestR = s, to, r
				}
			}
			if r := res[s]; r >= 0 {
				consider(int16(p.F)+int16(r), bytes)
			}
			for f := 0; f < p.F; f++ {
				consider(int16(f), bytes-p.shardBytes(s, f))
			}
			if running > 1 {
				consider(optDrop, bytes)
			}
		}
		if bestS < 0 {
			return
		}
		old := opt[bestS]
		opt[bestS] = bestTo
		if p.simulate(opt, nil) > target {
			opt[bestS] = old
			frozen[bestS] = 1
			continue
		}
		loss += p.optLoss(bestS, bestTo) - p.optLoss(bestS, old)
		if bestTo < 0 {
			running--
		}
	}
}
