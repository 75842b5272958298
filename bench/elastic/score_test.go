package elasticbench

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func msd(v ...float64) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x * 1e6)
	}
	return out
}

func TestSummarize(t *testing.T) {
	in := msd(9, 1, 5, 3, 7)
	orig := slices.Clone(in)
	got := Summarize(in)
	want := LatencyStats{P50: msd(5)[0], P95: msd(9)[0], Max: msd(9)[0], Mean: msd(5)[0]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Summarize (-want +got):\n%s", diff)
	}
	if !slices.Equal(in, orig) {
		t.Errorf("Summarize reordered its input: %v", in)
	}
	if diff := cmp.Diff(LatencyStats{}, Summarize(nil)); diff != "" {
		t.Errorf("Summarize(nil) (-want +got):\n%s", diff)
	}
}

func TestMissesAndMeets(t *testing.T) {
	cases := []struct {
		name      string
		lat       []time.Duration
		target    time.Duration
		misses    int
		rate      float64
		wantMeets bool
	}{
		{"finishing at the target is not a miss", msd(10, 10, 10), msd(10)[0], 0, 0, true},
		{"one over of 20 is 5% and meets", msd(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 11), msd(10)[0], 1, 0.05, true},
		{"two over of 20 is 10% and fails", msd(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 11, 11), msd(10)[0], 2, 0.10, false},
		{"p95 over the target fails", msd(1, 12), msd(10)[0], 1, 0.5, false},
		{"no requests", nil, msd(10)[0], 0, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, rate := Misses(c.lat, c.target)
			if n != c.misses || rate != c.rate {
				t.Errorf("Misses = %d, %v; want %d, %v", n, rate, c.misses, c.rate)
			}
			if got := Meets(Summarize(c.lat).P95, rate, c.target); got != c.wantMeets {
				t.Errorf("Meets = %v, want %v", got, c.wantMeets)
			}
		})
	}
}

func TestCeilSig2(t *testing.T) {
	cases := []struct{ in, want float64 }{
		{2.4e6, 2.4e6},
		{2.41e6, 2.5e6},
		{2.37e6, 2.4e6},
		{999, 1000},
		{1001, 1100},
		{9.91e7, 1e8},
		{5, 5},
	}
	for _, c := range cases {
		if got := ceilSig2(c.in); got != time.Duration(c.want) {
			t.Errorf("ceilSig2(%v) = %v, want %v", c.in, got, time.Duration(c.want))
		}
	}
}

func TestAutoTargets(t *testing.T) {
	// From 2.37ms to 900ms in 8 log steps the ratio is
	// (900/2.37)^(1/7) = 2.33614: 2.37, 5.537, 12.94, 30.22, 70.60, 164.9,
	// 385.3 and 900 ms, rounded up to two digits.
	got, err := AutoTargets(2370*time.Microsecond, 900*time.Millisecond, 8)
	if err != nil {
		t.Fatal(err)
	}
	want := msd(2.4, 5.6, 13, 31, 71, 170, 390, 900)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AutoTargets (-want +got):\n%s", diff)
	}

	// A narrow range rounds several steps to one value; each appears once.
	got, err = AutoTargets(10*time.Millisecond, 10500*time.Microsecond, 8)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(msd(10, 11), got); diff != "" {
		t.Errorf("narrow AutoTargets (-want +got):\n%s", diff)
	}

	for _, bad := range []struct {
		lo, hi time.Duration
		n      int
	}{{0, time.Second, 8}, {time.Second, time.Second, 8}, {time.Second, time.Millisecond, 8}, {time.Millisecond, time.Second, 1}} {
		if _, err := AutoTargets(bad.lo, bad.hi, bad.n); err == nil {
			t.Errorf("AutoTargets(%v, %v, %d) gave no error", bad.lo, bad.hi, bad.n)
		}
	}
}

func TestReadsDiffer(t *testing.T) {
	cases := []struct {
		name string
		p    IOProfile
		want bool
	}{
		{"same", IOProfile{ProfileBandwidth: 100e6, ProfileLatency: 500 * time.Microsecond, MeasuredBandwidth: 100e6, MeasuredLatency: 500 * time.Microsecond}, false},
		{"bandwidth 5% off", IOProfile{ProfileBandwidth: 100e6, ProfileLatency: 500 * time.Microsecond, MeasuredBandwidth: 95e6, MeasuredLatency: 500 * time.Microsecond}, false},
		{"bandwidth 20% off", IOProfile{ProfileBandwidth: 100e6, ProfileLatency: 500 * time.Microsecond, MeasuredBandwidth: 80e6, MeasuredLatency: 500 * time.Microsecond}, true},
		{"latency 30% off", IOProfile{ProfileBandwidth: 100e6, ProfileLatency: 500 * time.Microsecond, MeasuredBandwidth: 100e6, MeasuredLatency: 650 * time.Microsecond}, true},
		{"latency 50% but only 10µs off", IOProfile{ProfileBandwidth: 100e6, ProfileLatency: 20 * time.Microsecond, MeasuredBandwidth: 100e6, MeasuredLatency: 30 * time.Microsecond}, false},
	}
	for _, c := range cases {
		if got := readsDiffer(&c.p); got != c.want {
			t.Errorf("%s: readsDiffer = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCachedRowsCountsPreloadedAndRepeatedTokens(t *testing.T) {
	hot := map[int]bool{101: true, 102: true}
	// [CLS] and [SEP] are preloaded; the second 7 repeats the first.
	if got := cachedRows([]int{101, 7, 8, 7, 102}, hot); got != 3 {
		t.Errorf("cachedRows = %d, want 3", got)
	}
	if got := cachedRows([]int{5, 6}, nil); got != 0 {
		t.Errorf("no preloaded rows, no repeats: cachedRows = %d, want 0", got)
	}
}
