package main

import (
	"slices"
	"time"

	"github.com/wrxlabs/wrx/internal/stats"
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
	return summary{
		N:      n,
		Median: stats.Median(ms),
		P95:    stats.Quantile(ms, 0.95),
		Mean:   sum / float64(n),
		Min:    ms[0],
		Max:    ms[n-1],
	}
}
