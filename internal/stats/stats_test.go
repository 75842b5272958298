package stats

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ms(v ...float64) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x * float64(time.Millisecond))
	}
	return out
}

func oneTo(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i + 1)
	}
	return out
}

func TestQuantile(t *testing.T) {
	twentyDown := slices.Clone(oneTo(20))
	slices.Reverse(twentyDown)
	for _, tc := range []struct {
		name string
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.95, 0},
		{"one value", ms(7), 0.95, ms(7)[0]},
		// Nearest rank: the ⌈q·n⌉-th smallest value.
		{"p50 of 1..20 is the 10th", ms(oneTo(20)...), 0.50, ms(10)[0]},
		{"p95 of 1..20 is the 19th, not the 20th", ms(oneTo(20)...), 0.95, ms(19)[0]},
		{"p95 of 20..1 unsorted is the 19th", ms(twentyDown...), 0.95, ms(19)[0]},
		{"p100 is the max", ms(oneTo(20)...), 1, ms(20)[0]},
		{"p0 is the min", ms(5, 3, 4), 0, ms(3)[0]},
		{"p95 of 10 values is the 10th", ms(oneTo(10)...), 0.95, ms(10)[0]},
		{"p50 of 4 values is the 2nd (lower middle)", ms(4, 3, 2, 1), 0.50, ms(2)[0]},
		{"tiny q is the min", ms(3, 4), 0.001, ms(3)[0]},
		{"p99 of 100 is the 99th", ms(oneTo(100)...), 0.99, ms(99)[0]},
		{"p99 of 101 is the 100th", ms(oneTo(101)...), 0.99, ms(100)[0]},
		{"p95 of 872 is the 829th", ms(oneTo(872)...), 0.95, ms(829)[0]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := slices.Clone(tc.in)
			if got := Quantile(tc.in, tc.q); got != tc.want {
				t.Errorf("Quantile(%v, %v) = %v, want %v", tc.in, tc.q, got, tc.want)
			}
			if !slices.Equal(tc.in, orig) {
				t.Errorf("Quantile reordered its input: %v", tc.in)
			}
		})
	}
}

func TestRank(t *testing.T) {
	for _, tc := range []struct {
		n    int
		q    float64
		want int
	}{
		{1, 0.95, 1},
		{10, 0.95, 10}, // ⌈9.5⌉
		{20, 0.95, 19}, // 0.95·20 = 19 exactly, whatever float64 makes of it
		{100, 0.95, 95},
		{200, 0.95, 190},
		{872, 0.95, 829}, // ⌈828.4⌉
		{10, 0.5, 5},
		{11, 0.5, 6},
		{100, 0.99, 99},
		{3, 0, 1},
		{3, 1, 3},
	} {
		if got := rank(tc.n, tc.q); got != tc.want {
			t.Errorf("rank(%d, %v) = %d, want %d", tc.n, tc.q, got, tc.want)
		}
	}
}

// TestRankMatchesFormerDefinitions checks that the quantiles that replaced
// earlier copies report the same values: the runner's slack percentile
// (integer arithmetic, (n·p+99)/100 for percentile p), the bench
// summaries' ⌈q·n - 1e-9⌉, and cmd/wrx eval's ⌈q·n⌉ without the epsilon,
// and the lower middle (n-1)/2 used for median request lengths and
// overrun ratios.
func TestRankMatchesFormerDefinitions(t *testing.T) {
	for n := 1; n <= 5000; n++ {
		if n <= 100 {
			if got, want := rank(n, 0.99), (n*99+99)/100; got != want {
				t.Errorf("rank(%d, 0.99) = %d, runner slack had %d", n, got, want)
			}
		}
		for _, q := range []float64{0.5, 0.95, 0.99} {
			if got, want := rank(n, q), max(int(math.Ceil(q*float64(n))), 1); got != want {
				t.Errorf("rank(%d, %v) = %d, eval's quantile had %d", n, q, got, want)
			}
		}
		if got, want := rank(n, 0.5)-1, (n-1)/2; got != want {
			t.Errorf("rank(%d, 0.5)-1 = %d, lower middle is %d", n, got, want)
		}
	}
}

func TestQuantilePanicsOutsideUnitInterval(t *testing.T) {
	for _, q := range []float64{-0.1, 1.01, math.NaN(), math.Inf(1)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Quantile(…, %v) did not panic", q)
				}
			}()
			Quantile([]float64{1, 2}, q)
		}()
	}
}

func TestMedian(t *testing.T) {
	floats := []struct {
		name string
		in   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"one", []float64{4}, 4},
		{"odd", []float64{3, 1, 2}, 2},
		{"even is the mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"twenty", oneTo(20), 10.5},
		{"negative", []float64{-1, -2}, -1.5},
		{"huge does not overflow", []float64{math.MaxFloat64, math.MaxFloat64}, math.MaxFloat64},
	}
	for _, tc := range floats {
		t.Run(tc.name, func(t *testing.T) {
			orig := slices.Clone(tc.in)
			if got := Median(tc.in); got != tc.want {
				t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
			}
			if !slices.Equal(tc.in, orig) {
				t.Errorf("Median reordered its input: %v", tc.in)
			}
		})
	}
	durations := []struct {
		name string
		in   []time.Duration
		want time.Duration
	}{
		{"odd", ms(9, 1, 5), ms(5)[0]},
		{"even", ms(1, 2), 1500 * time.Microsecond},
		{"even truncates", []time.Duration{1, 2}, 1},
	}
	for _, tc := range durations {
		if got := Median(tc.in); got != tc.want {
			t.Errorf("%s: Median(%v) = %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
	// Integer means as integer division would give them, without overflow.
	for _, tc := range []struct{ a, b, want int8 }{
		{3, 4, 3}, {3, 5, 4}, {-3, -4, -3}, {-3, -5, -4}, {-3, 0, -1}, {-3, 4, 0},
		{127, 127, 127}, {126, 127, 126}, {-128, -128, -128}, {-128, 127, 0},
	} {
		if got := Median([]int8{tc.a, tc.b}); got != tc.want {
			t.Errorf("Median(int8 %d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	if got := Median([]uint8{255, 253}); got != 254 {
		t.Errorf("Median(uint8 255, 253) = %d, want 254", got)
	}
}

// Quantile and Median agree for an odd count and differ for an even one.
func TestQuantileAndMedian(t *testing.T) {
	type pair struct{ P50, Median float64 }
	got := []pair{
		{Quantile([]float64{1, 2, 3}, 0.5), Median([]float64{1, 2, 3})},
		{Quantile([]float64{1, 2, 3, 4}, 0.5), Median([]float64{1, 2, 3, 4})},
	}
	want := []pair{{2, 2}, {2, 2.5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLogSoftmaxAndKL(t *testing.T) {
	lp := LogSoftmax([]float32{0, 0})
	if math.Abs(lp[0]+math.Ln2) > 1e-12 || math.Abs(lp[1]+math.Ln2) > 1e-12 {
		t.Errorf("LogSoftmax(0, 0) = %v, want -ln 2 twice", lp)
	}
	// Large logits must not overflow.
	if big := LogSoftmax([]float32{1000, 1000}); math.Abs(big[0]+math.Ln2) > 1e-12 {
		t.Errorf("LogSoftmax(1000, 1000) = %v", big)
	}
	if kl := KL(lp, lp); kl != 0 {
		t.Errorf("KL(p ‖ p) = %v", kl)
	}
	// p = (½, ½), q = (0.9, 0.1): ½ ln(½/0.9) + ½ ln(½/0.1) = 0.510826.
	lq := []float64{math.Log(0.9), math.Log(0.1)}
	if kl := KL(lp, lq); math.Abs(kl-0.5*math.Log(0.5/0.9)-0.5*math.Log(0.5/0.1)) > 1e-12 || math.Abs(kl-0.510826) > 1e-6 {
		t.Errorf("KL = %v, want 0.510826", kl)
	}
}
