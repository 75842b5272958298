package stats_test

import (
	"fmt"
	"time"

	"github.com/wrxlabs/wrx/internal/stats"
)

// Latency percentiles are nearest-rank: each is one of the measured values.
func ExampleQuantile() {
	lat := []time.Duration{
		12 * time.Millisecond, 9 * time.Millisecond, 30 * time.Millisecond, 10 * time.Millisecond,
		11 * time.Millisecond, 8 * time.Millisecond, 13 * time.Millisecond, 14 * time.Millisecond,
	}
	fmt.Println("p50", stats.Quantile(lat, 0.5))
	fmt.Println("p95", stats.Quantile(lat, 0.95))
	fmt.Println("max", stats.Quantile(lat, 1))
	// Output:
	// p50 11ms
	// p95 30ms
	// max 30ms
}

// The median of an even count is the mean of the two middle values.
func ExampleMedian() {
	fmt.Println(stats.Median([]float64{4, 1, 3}))
	fmt.Println(stats.Median([]float64{4, 1, 3, 2}))
	fmt.Println(stats.Median([]time.Duration{3 * time.Millisecond, time.Millisecond}))
	// Output:
	// 3
	// 2.5
	// 2ms
}
