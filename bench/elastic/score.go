package elasticbench

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/wrxlabs/wrx/internal/stats"
)

// MaxMissRate is the largest deadline-miss rate at which a mode still
// meets a target (issue 4: "at most 5% of requests miss").
const MaxMissRate = 0.05

// LatencyStats summarises the latencies of a set of requests.
type LatencyStats struct {
	P50, P95, Max, Mean time.Duration
}

// Summarize returns the nearest-rank p50 and p95 ([stats.Quantile]: each is
// a latency that was measured, never an interpolation, so "p95 ≤ T" means
// that at least 95% of the requests took at most T), the maximum and the
// mean of latencies, which it does not modify.
func Summarize(latencies []time.Duration) LatencyStats {
	if len(latencies) == 0 {
		return LatencyStats{}
	}
	s := slices.Clone(latencies)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return LatencyStats{
		P50:  stats.Quantile(s, 0.50),
		P95:  stats.Quantile(s, 0.95),
		Max:  s[len(s)-1],
		Mean: sum / time.Duration(len(s)),
	}
}

// Misses counts the latencies above target (a request that finishes exactly
// at the target meets it) and returns the count and its fraction.
func Misses(latencies []time.Duration, target time.Duration) (int, float64) {
	n := 0
	for _, d := range latencies {
		if d > target {
			n++
		}
	}
	if len(latencies) == 0 {
		return 0, 0
	}
	return n, float64(n) / float64(len(latencies))
}

// Meets reports whether a mode with this p95 latency and miss rate meets
// target: p95 ≤ target and at most MaxMissRate of the requests miss.
func Meets(p95 time.Duration, missRate float64, target time.Duration) bool {
	return p95 <= target && missRate <= MaxMissRate
}

// AutoTargets returns about n latency targets spaced evenly on a log scale
// from lo to hi, each rounded up to two significant digits so that tables
// stay readable; rounding up keeps the first one at or above lo (the
// smallest target the planner accepts). Targets that round to the same
// value appear once.
func AutoTargets(lo, hi time.Duration, n int) ([]time.Duration, error) {
	if lo <= 0 || n < 2 {
		return nil, fmt.Errorf("auto targets: need a positive smallest target and at least 2 targets, got %v and %d", lo, n)
	}
	if hi <= lo {
		return nil, fmt.Errorf("auto targets: the full model's time %v is not above the smallest feasible target %v", hi, lo)
	}
	ratio := math.Log(float64(hi) / float64(lo))
	var out []time.Duration
	for i := range n {
		t := ceilSig2(float64(lo) * math.Exp(ratio*float64(i)/float64(n-1)))
		if len(out) == 0 || t > out[len(out)-1] {
			out = append(out, t)
		}
	}
	return out, nil
}

// ceilSig2 rounds ns up to two significant digits.
func ceilSig2(ns float64) time.Duration {
	if ns <= 0 {
		return 0
	}
	scale := math.Pow(10, math.Floor(math.Log10(ns))-1)
	// The small tolerance keeps an exact value such as 2.4e6 from being
	// pushed up by floating-point noise in the division.
	return time.Duration(math.Ceil(ns/scale-1e-9) * scale)
}

// accuracy is the fraction of samples whose prediction equals the label.
func accuracy(samples []Sample) float64 {
	if len(samples) == 0 {
		return 0
	}
	ok := 0
	for _, s := range samples {
		if s.Pred == s.Label {
			ok++
		}
	}
	return float64(ok) / float64(len(samples))
}

// agreement counts the examples, matched by line, on which a and b predict
// the same label, and how many lines they share.
func agreement(a, b []Sample) (same, shared int) {
	pred := make(map[int]int, len(b))
	for _, s := range b {
		pred[s.Line] = s.Pred
	}
	for _, s := range a {
		if p, ok := pred[s.Line]; ok {
			shared++
			if p == s.Pred {
				same++
			}
		}
	}
	return same, shared
}

// refusedLatency stands for the latency of a refused request: it was
// never answered, so it misses every target and sits above every
// quantile of the answered ones.
const refusedLatency = time.Duration(1 << 62)

// latencies lists the samples' latencies, refused ones as refusedLatency.
func latencies(samples []Sample) []time.Duration {
	out := make([]time.Duration, len(samples))
	for i, s := range samples {
		out[i] = s.Latency
		if s.Refused {
			out[i] = refusedLatency
		}
	}
	return out
}

// answered lists the latencies of the samples that got an answer.
func answered(samples []Sample) []time.Duration {
	var out []time.Duration
	for _, s := range samples {
		if !s.Refused {
			out = append(out, s.Latency)
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
