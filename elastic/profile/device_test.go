package profile_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx/backend"
	_ "github.com/wrxlabs/wrx/backend/gorgonia"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// quickDevice keeps compute timing short: the tests check the profile's
// shape and the read fit, not how fast this machine is.
var quickDevice = profile.DeviceOptions{Repeats: 1, SeqLens: []int{4, 16}, ShardCounts: []int{0, 1, 4}}

// TestMeasureReadsFitsThrottle measures reads through a throttle emulating
// a device of known bandwidth and latency and checks the fit recovers them.
// The device is slow (250 KB/s, 40 ms per read) so that timers firing late
// (by a few ms on a loaded machine) stay small beside every read.
func TestMeasureReadsFitsThrottle(t *testing.T) {
	s, _ := convertFixture(t, "fixtures/tiny-bert")
	dev := storage.ThrottleConfig{Bandwidth: 250e3, Latency: 40 * time.Millisecond}
	bw, lat, err := profile.MeasureReads(context.Background(), s, storage.Throttle(s.Storage(), dev), profile.DeviceOptions{ReadSamples: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fitted %.4g B/s, %v per read; throttle %v", bw, lat, dev)
	// A loaded machine only ever makes reads slower: the fit may err on
	// that side more than on the other.
	if r := bw / dev.Bandwidth; r < 0.6 || r > 1.2 {
		t.Errorf("fitted bandwidth %.3g B/s, throttle %.3g B/s", bw, dev.Bandwidth)
	}
	if r := float64(lat) / float64(dev.Latency); r < 0.8 || r > 1.5 {
		t.Errorf("fitted latency %v, throttle %v", lat, dev.Latency)
	}
}

// TestMeasureReadsAtDepth measures reads four at a time through a
// throttle that overlaps their latencies: a group of four reads of n
// bytes issued together takes L + 4n/B, so the fitted per-read latency
// and bandwidth, the effective ones at that depth, are L/4 and B.
func TestMeasureReadsAtDepth(t *testing.T) {
	s, _ := convertFixture(t, "fixtures/tiny-bert")
	dev := storage.ThrottleConfig{Bandwidth: 250e3, Latency: 40 * time.Millisecond}
	bw, lat, err := profile.MeasureReads(context.Background(), s, storage.Throttle(s.Storage(), dev), profile.DeviceOptions{ReadSamples: 4, ReadQueue: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fitted %.4g B/s, %v per read at depth 4; throttle %v", bw, lat, dev)
	if r := bw / dev.Bandwidth; r < 0.6 || r > 1.2 {
		t.Errorf("fitted bandwidth %.3g B/s, throttle %.3g B/s", bw, dev.Bandwidth)
	}
	if r := float64(lat) / float64(dev.Latency/4); r < 0.7 || r > 1.6 {
		t.Errorf("fitted latency %v at depth 4, want about a quarter of the throttle's %v", lat, dev.Latency)
	}
	if _, _, err := profile.MeasureReads(context.Background(), s, s.Storage(), profile.DeviceOptions{ReadQueue: -1}); err == nil {
		t.Error("a negative read queue was accepted")
	}
}

// TestMeasureDepths measures the depths below a read queue of 4 through
// the throttle of TestMeasureReadsAtDepth: one read at a time each pays
// the whole latency L, two at a time L/2, at the same bandwidth.
func TestMeasureDepths(t *testing.T) {
	s, _ := convertFixture(t, "fixtures/tiny-bert")
	dev := storage.ThrottleConfig{Bandwidth: 250e3, Latency: 40 * time.Millisecond}
	depths, err := profile.MeasureDepths(context.Background(), s, storage.Throttle(s.Storage(), dev), profile.DeviceOptions{ReadSamples: 2, ReadQueue: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("depths %+v; throttle %v", depths, dev)
	if len(depths) != 2 || depths[0].Queue != 1 || depths[1].Queue != 2 {
		t.Fatalf("depths %+v, want 1 and 2 in flight", depths)
	}
	for _, d := range depths {
		if r := d.Bandwidth / dev.Bandwidth; r < 0.6 || r > 1.2 {
			t.Errorf("%d in flight: fitted bandwidth %.3g B/s, throttle %.3g B/s", d.Queue, d.Bandwidth, dev.Bandwidth)
		}
		if r := float64(d.Latency) / float64(dev.Latency/time.Duration(d.Queue)); r < 0.7 || r > 1.6 {
			t.Errorf("%d in flight: fitted latency %v, want about %v", d.Queue, d.Latency, dev.Latency/time.Duration(d.Queue))
		}
	}
	if depths, err := profile.MeasureDepths(context.Background(), s, s.Storage(), profile.DeviceOptions{ReadQueue: 1}); err != nil || depths != nil {
		t.Errorf("read queue 1: depths %v, %v; want none", depths, err)
	}
}

// countingStore counts the reads that reach it.
type countingStore struct {
	storage.Store
	reads atomic.Int64
}

func (c *countingStore) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	c.reads.Add(1)
	return c.Store.ReadAt(ctx, key, dst, off)
}

func TestProfileDevice(t *testing.T) {
	s, _ := convertFixture(t, "fixtures/tiny-bert")
	st := &countingStore{Store: s.Storage()}
	var last, total int
	opts := quickDevice
	opts.Progress = func(d, n int) { last, total = d, n }
	p, err := profile.ProfileDevice(context.Background(), s, st, testBackend(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if last != total || total == 0 {
		t.Errorf("progress ended at %d/%d", last, total)
	}
	// k blobs per (fidelity, part) and 4k word rows, each read once: k is
	// DefaultReadSamples, or every shard of this small model; then the
	// row reads of 7 requests each of 4, 8, 16, 32 and 64 distinct tokens.
	c0 := s.Config()
	k := int64(min(profile.DefaultReadSamples, c0.Layers*c0.Heads))
	if want := k*2*int64(len(quant.AllFidelities())) + 4*k + 7*(4+8+16+32+64); st.reads.Load() != want {
		t.Errorf("%d reads through the given storage, want %d", st.reads.Load(), want)
	}
	if len(p.Decode) != len(quant.AllFidelities()) {
		t.Errorf("decode times for %d fidelities, want %d", len(p.Decode), len(quant.AllFidelities()))
	}
	for _, d := range p.Decode {
		if d.Attention <= 0 || d.FFN <= 0 {
			t.Errorf("decode times at %d bits: %v, %v; want positive", d.Bits, d.Attention, d.FFN)
		}
	}
	if p.RowReadTime <= 0 || p.RowReadFixed < 0 {
		t.Errorf("word rows: %v + %v per row; want a positive time per row", p.RowReadFixed, p.RowReadTime)
	}
	if p.Backend != "native" {
		t.Errorf("backend %q", p.Backend)
	}
	c := &p.Compute
	if diff := cmp.Diff(quickDevice.SeqLens, c.SeqLens); diff != "" {
		t.Errorf("seq lens (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(quickDevice.ShardCounts, c.ShardCounts); diff != "" {
		t.Errorf("shard counts (-want +got):\n%s", diff)
	}
	for i, row := range c.Layer {
		for j, d := range row {
			if d <= 0 {
				t.Errorf("layer time at S=%d, n=%d is %v; every measurement takes some time", c.SeqLens[i], c.ShardCounts[j], d)
			}
		}
	}
	var bits []quant.Fidelity
	for _, f := range p.Dequant {
		bits = append(bits, f.Bits)
		if f.Bits == quant.FP32 && f.Factor != 1 {
			t.Errorf("fp32 dequant factor %v, want 1 (it is the reference)", f.Factor)
		}
	}
	if diff := cmp.Diff(quant.AllFidelities(), bits); diff != "" {
		t.Errorf("dequant fidelities (-want +got):\n%s", diff)
	}
}

func TestProfileDeviceDefaults(t *testing.T) {
	s, _ := convertFixture(t, "fixtures/tiny-bert")
	p, err := profile.ProfileDevice(context.Background(), s, s.Storage(), testBackend(), profile.DeviceOptions{Repeats: 1})
	if err != nil {
		t.Fatal(err)
	}
	// tiny-bert has 4 heads and max_position 512.
	want := plan.ComputeTable{SeqLens: []int{8, 16, 32, 64, 128}, ShardCounts: []int{0, 1, 2, 3, 4}}
	got := plan.ComputeTable{SeqLens: p.Compute.SeqLens, ShardCounts: p.Compute.ShardCounts}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("default grid (-want +got):\n%s", diff)
	}
	if math.IsInf(p.ReadBandwidth, 0) || p.ReadBandwidth <= 0 {
		t.Errorf("unthrottled bandwidth %v", p.ReadBandwidth)
	}
}

func TestProfileDeviceBadOptions(t *testing.T) {
	s, _ := convertFixture(t, "fixtures/tiny-bert")
	for _, tc := range []struct {
		name string
		opts profile.DeviceOptions
		want string
	}{
		{"seq lens not increasing", profile.DeviceOptions{SeqLens: []int{16, 8}}, "sequence lengths"},
		{"seq len beyond max position", profile.DeviceOptions{SeqLens: []int{1000}}, "sequence lengths"},
		{"empty seq lens", profile.DeviceOptions{SeqLens: []int{}}, "no sequence lengths"},
		{"counts not from 0", profile.DeviceOptions{ShardCounts: []int{1, 2}}, "start at 0"},
		{"counts beyond heads", profile.DeviceOptions{ShardCounts: []int{0, 5}}, "within [0, 4]"},
		{"too many read samples", profile.DeviceOptions{ReadSamples: 13}, "read samples"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := profile.ProfileDevice(context.Background(), s, s.Storage(), testBackend(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestProfileDeviceCancel(t *testing.T) {
	s, _ := convertFixture(t, "fixtures/tiny-bert")
	before := runtime.NumGoroutine()
	// A slow device, cancelled during the reads: the throttle's wait must
	// end at once, not after the whole profile.
	st := storage.Throttle(s.Storage(), storage.ThrottleConfig{Bandwidth: 1e3, Latency: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := profile.ProfileDevice(ctx, s, st, testBackend(), quickDevice)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	// Not a speed assertion: uncancelled, the first read alone takes a
	// second and the profile minutes.
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("cancelled profile took %v", el)
	}
	if n := settleGoroutines(before); n > before {
		t.Errorf("%d goroutines before, %d after: leak", before, n)
	}

	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := profile.ProfileDevice(cctx, s, s.Storage(), testBackend(), quickDevice); !errors.Is(err, context.Canceled) {
		t.Errorf("already cancelled: error %v, want context.Canceled", err)
	}
}

func TestDeviceSaveLoad(t *testing.T) {
	s, uri := convertFixture(t, "fixtures/tiny-bert")
	ctx := context.Background()
	be := testBackend()
	if _, err := profile.LoadDevice(ctx, uri, s, be); !errors.Is(err, profile.ErrNoProfile) {
		t.Fatalf("load from a store without a profile: %v", err)
	}
	p, err := profile.ProfileDevice(ctx, s, s.Storage(), be, quickDevice)
	if err != nil {
		t.Fatal(err)
	}
	if want := profile.CurrentHost(be); p.Host == nil || !cmp.Equal(*p.Host, want) {
		t.Fatalf("profile host %+v, want this host %+v", p.Host, want)
	}
	if err := profile.SaveDevice(ctx, uri, s, p); err != nil {
		t.Fatal(err)
	}
	got, err := profile.LoadDevice(ctx, uri, s, be)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("loaded profile differs (-saved +loaded):\n%s", diff)
	}
	gorgonia, err := backend.Open("gorgonia", backend.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := profile.LoadDevice(ctx, uri, s, gorgonia); !errors.Is(err, profile.ErrNoProfile) {
		t.Errorf("load for another backend: %v", err)
	}
	// The same store on another machine, or with another thread count.
	for name, change := range map[string]func(h *plan.Host){
		"cpu":     func(h *plan.Host) { h.CPU = "Some Other CPU @ 1.2GHz" },
		"kernel":  func(h *plan.Host) { h.Kernel = "0.0.1-other" },
		"threads": func(h *plan.Host) { h.Threads++ },
	} {
		other := *p
		host := *p.Host
		change(&host)
		other.Host = &host
		if err := profile.SaveDevice(ctx, uri, s, &other); err != nil {
			t.Fatal(err)
		}
		_, err := profile.LoadDevice(ctx, uri, s, be)
		if !errors.Is(err, profile.ErrOtherHost) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "measure the device again") {
			t.Errorf("a profile of another %s: err = %v", name, err)
		}
	}
	bad := *p
	bad.ReadBandwidth = 0
	if err := profile.SaveDevice(ctx, uri, s, &bad); err == nil {
		t.Error("saving a profile with zero bandwidth succeeded")
	}
}

// Measure this device reading a store through an emulated SD card, and
// print what the planner will assume.
func ExampleProfileDevice() {
	ctx := context.Background()
	uri := "file:/path/to/store" // made by wrx convert
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		log.Fatal(err)
	}
	sd := storage.Throttle(s.Storage(), storage.ThrottleConfig{Bandwidth: 25e6, Latency: time.Millisecond})
	be, err := backend.Get("native")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	p, err := profile.ProfileDevice(ctx, s, sd, be, profile.DeviceOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.0f MB/s, %v per read; a layer of 12 shards on 32 tokens: %v\n",
		p.ReadBandwidth/1e6, p.ReadLatency, p.LayerTime(12, 32))
	// Saved beside the store; shard data is not touched.
	if err := profile.SaveDevice(ctx, uri, s, p); err != nil {
		log.Fatal(err)
	}
}
