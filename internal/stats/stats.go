// Package stats holds the one quantile and the one median of the module, for
// latencies, timings and ratios alike, and the paired bootstrap
// ([PairedBootstrap]) the benchmark's accuracy differences are reported
// with.
//
// Two definitions are used on purpose, each under its own name:
//
//   - [Quantile] is the nearest-rank quantile: the ⌈q·n⌉-th smallest value.
//     It is always a value that was measured, never an interpolation, so
//     "p95 ≤ T" means that at least 95% of the values are at most T. The
//     latency percentiles (p50, p95, p99) compared against targets, the
//     runner's slack and the median request length use it.
//   - [Median] is the conventional median: the middle value, or the mean of
//     the two middle values when n is even. Profiling timings and the
//     end-to-end comparison with other runtimes (scripts/e2e, whose Python
//     and JavaScript peers use the same definition) use it.
//
// For an odd n the two agree; for an even n Quantile(xs, 0.5) is the lower
// of the two middle values and Median their mean.
//
// Both take their values in any order and never modify them: already
// sorted input (checked in O(n)) is used as is, other input is sorted in a
// copy.
package stats

import (
	"fmt"
	"math"
	"slices"
)

// Number is the set of types Quantile and Median work on: integers
// (time.Duration among them) and floats.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr |
		~float32 | ~float64
}

// Quantile returns the nearest-rank q-quantile of xs: the ⌈q·n⌉-th
// smallest of the n values (the smallest when q·n ≤ 1), so the smallest
// value such that at least a fraction q of the values are at most it.
// q·n that is an integer in exact arithmetic counts as that integer even
// when its float64 product rounds slightly above it (0.95·20 is the 19th
// value, not the 20th). Quantile(xs, 1) is the maximum. It returns 0 for
// no values and panics when q is outside [0, 1] or NaN.
func Quantile[T Number](xs []T, q float64) T {
	if !(q >= 0 && q <= 1) {
		panic(fmt.Sprintf("stats: quantile %v outside [0, 1]", q))
	}
	if len(xs) == 0 {
		return 0
	}
	s := sorted(xs)
	return s[rank(len(s), q)-1]
}

// rank returns the 1-based nearest rank ⌈q·n⌉ of the q-quantile of n > 0
// sorted values, clamped to [1, n]. The product is reduced by 1e-9 before
// rounding up so that a q·n which is an integer in exact arithmetic is not
// pushed to the next rank by float64 rounding. (For the quantiles in use,
// 0.5, 0.95 and 0.99, a q·n that is not an integer is at least 0.01 away
// from one.)
func rank(n int, q float64) int {
	r := int(math.Ceil(q*float64(n) - 1e-9))
	return min(max(r, 1), n)
}

// Median returns the median of xs: the middle value when their number is
// odd, the mean of the two middle values when it is even (for integer
// types the mean is truncated toward zero, as integer division does). It
// returns 0 for no values.
func Median[T Number](xs []T) T {
	n := len(xs)
	if n == 0 {
		return 0
	}
	s := sorted(xs)
	if n%2 == 1 {
		return s[n/2]
	}
	return mean2(s[n/2-1], s[n/2])
}

// mean2 returns (a+b)/2 without overflowing: a sum of values of different
// signs cannot overflow; for the same sign the halves are added, with the
// remainders' half (a%2 written so that it also compiles for floats, where
// it is 0 and the result is the correctly rounded a/2+b/2 = (a+b)/2).
func mean2[T Number](a, b T) T {
	if (a < 0) != (b < 0) {
		return (a + b) / 2
	}
	return a/2 + b/2 + ((a-a/2*2)+(b-b/2*2))/2
}

// sorted returns xs when it is already in ascending order, else a sorted
// copy.
func sorted[T Number](xs []T) []T {
	if slices.IsSorted(xs) {
		return xs
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s
}

// LogSoftmax returns the log-probabilities of logits, in float64, computed
// stably (the largest logit is subtracted first).
func LogSoftmax(logits []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range logits {
		m = max(m, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - m)
	}
	lse := m + math.Log(s)
	out := make([]float64, len(logits))
	for i, v := range logits {
		out[i] = float64(v) - lse
	}
	return out
}

// KL is the Kullback–Leibler divergence KL(p ‖ q) of two distributions
// given as log-probabilities (LogSoftmax), never below zero.
func KL(lp, lq []float64) float64 {
	var s float64
	for i := range lp {
		s += math.Exp(lp[i]) * (lp[i] - lq[i])
	}
	return max(s, 0) // rounding can leave -1e-17 for identical inputs
}
