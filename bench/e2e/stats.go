package main

import (
	"math"
	"slices"
	"time"
)

// summary describes a set of per-sentence latencies, in milliseconds.
// scripts/e2e/report.py computes the same figures for every peer with the
// same definitions, so that the comparison table does not depend on each
// peer's own arithmetic.
type summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median_ms"` // mean of the two middle values when N is even
	P95    float64 `json:"p95_ms"`    // nearest rank: the ⌈0.95·N⌉-th smallest
	Mean   float64 `json:"mean_ms"`
	Min    float64 `json:"min_ms"`
	Max    float64 `json:"max_ms"`
}

// summarize returns the summary of ds; the zero summary when ds is empty.
func summarize(ds []time.Duration) summary {
	if len(ds) == 0 {
		return summary{}
	}
	ms := make([]float64, len(ds))
	var sum float64
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
		sum += ms[i]
	}
	slices.Sort(ms)
	n := len(ms)
	med := ms[n/2]
	if n%2 == 0 {
		med = (ms[n/2-1] + ms[n/2]) / 2
	}
	return summary{
		N:      n,
		Median: med,
		P95:    ms[nearestRank(n, 0.95)],
		Mean:   sum / float64(n),
		Min:    ms[0],
		Max:    ms[n-1],
	}
}

// nearestRank returns the 0-based index of the q-quantile of n sorted values
// by the nearest-rank definition, ⌈q·n⌉-th smallest. The epsilon keeps q·n
// that is an integer in exact arithmetic (0.95·20 = 19) from rounding up.
func nearestRank(n int, q float64) int {
	r := int(math.Ceil(q*float64(n) - 1e-9))
	return min(max(r, 1), n) - 1
}
