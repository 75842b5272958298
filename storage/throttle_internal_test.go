package storage

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock replaces the throttle's clock: time moves only when the
// throttle sleeps or a test store says so.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	c.advance(max(d, 0))
	return ctx.Err()
}

// slowStore makes every read take a fixed time on the fake clock.
type slowStore struct {
	Store
	clock *fakeClock
	cost  time.Duration
}

func (s slowStore) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	s.clock.advance(s.cost)
	return s.Store.ReadAt(ctx, key, dst, off)
}

func memWith(t *testing.T, blobs map[string][]byte) Store {
	t.Helper()
	ctx := context.Background()
	name := t.Name()
	t.Cleanup(func() { DeleteMem(name) })
	w, _ := Create(ctx, "mem:"+name, CreateOptions{})
	for k, v := range blobs {
		w.Put(ctx, k, v)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, "mem:"+name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestThrottleCharges(t *testing.T) {
	ctx := context.Background()
	base := memWith(t, map[string][]byte{"a": make([]byte, 1000), "b": make([]byte, 250_000)})
	cfg := ThrottleConfig{Bandwidth: 1e6, Latency: time.Millisecond} // 1 MB/s: 1 µs per byte

	for _, tc := range []struct {
		name      string
		storeCost time.Duration
		reads     []int // bytes per read of blob b
		want      []time.Duration
	}{
		// 1ms + n µs each.
		{"instant store", 0, []int{1000, 0, 250_000}, []time.Duration{2 * time.Millisecond, time.Millisecond, 251 * time.Millisecond}},
		// The store's own 5 ms is part of the device time, not added to it.
		{"slow store", 5 * time.Millisecond, []int{1000, 250_000}, []time.Duration{-3 * time.Millisecond, 246 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{}
			th := Throttle(slowStore{base, clock, tc.storeCost}, cfg)
			th.now, th.sleep = clock.now, clock.sleep
			for _, n := range tc.reads {
				if _, err := th.ReadAt(ctx, "b", make([]byte, n), 0); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tc.want, clock.sleeps); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
		})
	}

	// A read past the end is charged for the bytes delivered.
	clock := &fakeClock{}
	th := Throttle(base, cfg)
	th.now, th.sleep = clock.now, clock.sleep
	th.ReadAt(ctx, "a", make([]byte, 5000), 0)
	if diff := cmp.Diff([]time.Duration{2 * time.Millisecond}, clock.sleeps); diff != "" {
		t.Errorf("short read sleeps (-want +got):\n%s", diff)
	}
}

// TestThrottleOverlapsLatency issues reads together: their latencies
// overlap and their bytes take the bandwidth in turn, so that q reads of
// n bytes end after Latency + q·n/Bandwidth, not q·(Latency + n/Bandwidth);
// a read issued once the channel is idle again pays the latency afresh.
func TestThrottleOverlapsLatency(t *testing.T) {
	ctx := context.Background()
	base := memWith(t, map[string][]byte{"b": make([]byte, 1000)})
	th := Throttle(base, ThrottleConfig{Bandwidth: 1e6, Latency: time.Millisecond}) // 1 ms per 1000 bytes
	clock := &fakeClock{}
	var sleeps []time.Duration
	// The clock stands still while reads sleep: every read is issued at
	// the same instant, as concurrent ones would be.
	th.now = clock.now
	th.sleep = func(ctx context.Context, d time.Duration) error { sleeps = append(sleeps, d); return nil }
	for range 4 {
		if _, err := th.ReadAt(ctx, "b", make([]byte, 1000), 0); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(10 * time.Millisecond) // the channel idles from 5 ms
	if _, err := th.ReadAt(ctx, "b", make([]byte, 500), 0); err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	if diff := cmp.Diff([]time.Duration{2 * ms, 3 * ms, 4 * ms, 5 * ms, 1500 * time.Microsecond}, sleeps); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}

	// On the real clock: 8 reads at once of 20 ms latency each take about
	// 20 ms together, where one at a time they would take 160.
	real := Throttle(base, ThrottleConfig{Latency: 20 * time.Millisecond})
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := real.ReadAt(ctx, "b", make([]byte, 10), 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if el := time.Since(start); el < 20*time.Millisecond || el > 80*time.Millisecond {
		t.Errorf("8 concurrent reads of 20 ms latency took %v, want about 20 ms", el)
	}
}

// TestThrottleSerialOneReadAtATime checks that on a Serial device a
// second read does not reach the store while the first one holds the
// device.
func TestThrottleSerialOneReadAtATime(t *testing.T) {
	ctx := context.Background()
	counting := Counting(memWith(t, map[string][]byte{"a": make([]byte, 10)}))
	th := Throttle(counting, ThrottleConfig{Latency: time.Millisecond, Serial: true})
	release := make(chan struct{})
	sleeping := make(chan struct{}, 2)
	th.sleep = func(ctx context.Context, d time.Duration) error {
		sleeping <- struct{}{}
		<-release
		return nil
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			th.ReadAt(ctx, "a", make([]byte, 10), 0)
		}()
	}
	<-sleeping // one read is on the device
	if r, _ := counting.Count(""); r != 1 {
		t.Errorf("%d reads reached the store while the device was busy, want 1", r)
	}
	// A read that gives up while queued returns its context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := th.ReadAt(cctx, "a", make([]byte, 10), 0); err == nil {
		t.Errorf("queued read with a cancelled context succeeded")
	}
	close(release)
	wg.Wait()
	if r, _ := counting.Count(""); r != 2 {
		t.Errorf("after release %d reads reached the store, want 2", r)
	}
}

// BenchmarkThrottleLatency reads one small blob per op through a throttle
// of 0.5 ms per read and no bandwidth limit, and reports the per-read
// latency achieved beside the one configured (ratio): before sleeping
// spun for its last stretch, Go timers made it about 0.96 ms.
func BenchmarkThrottleLatency(b *testing.B) {
	ctx := context.Background()
	w, err := Create(ctx, "mem:bench-throttle", CreateOptions{Overwrite: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Put(ctx, "k", make([]byte, 64)); err != nil {
		b.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	defer DeleteMem("bench-throttle")
	st, err := Open(ctx, "mem:bench-throttle")
	if err != nil {
		b.Fatal(err)
	}
	const lat = 500 * time.Microsecond
	th := Throttle(st, ThrottleConfig{Latency: lat})
	dst := make([]byte, 64)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := th.ReadAt(ctx, "k", dst, 0); err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds()), "µs/read")
	b.ReportMetric(float64(per)/float64(lat), "measured/configured")
}

// TestThrottleSetBandwidth halves the bandwidth between reads: the reads
// after it are charged at the new rate, the latency stays. Concurrent
// changes and reads are safe (run with -race).
func TestThrottleSetBandwidth(t *testing.T) {
	ctx := context.Background()
	base := memWith(t, map[string][]byte{"b": make([]byte, 1000)})
	clock := &fakeClock{}
	th := Throttle(base, ThrottleConfig{Bandwidth: 1e6, Latency: time.Millisecond})
	th.now, th.sleep = clock.now, clock.sleep
	read := func() {
		t.Helper()
		if _, err := th.ReadAt(ctx, "b", make([]byte, 1000), 0); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if err := th.SetBandwidth(0.5e6); err != nil {
		t.Fatal(err)
	}
	read()
	if want := (ThrottleConfig{Bandwidth: 0.5e6, Latency: time.Millisecond}); th.Config() != want {
		t.Errorf("config %+v after SetBandwidth, want %+v", th.Config(), want)
	}
	if diff := cmp.Diff([]time.Duration{2 * time.Millisecond, 3 * time.Millisecond}, clock.sleeps); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		if err := th.SetBandwidth(bad); err == nil {
			t.Errorf("bandwidth %v accepted", bad)
		}
	}

	fast := Throttle(base, ThrottleConfig{Bandwidth: 1e9})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				if i%2 == 0 {
					fast.SetBandwidth(float64(1e9 + j))
					continue
				}
				if _, err := fast.ReadAt(ctx, "b", make([]byte, 10), 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
