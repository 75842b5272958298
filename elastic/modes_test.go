package elastic

import (
	"context"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/backend/native"
	"github.com/wrxlabs/wrx/shardstore"
)

// handProfiles builds planner inputs for a store by hand: losses that fall
// with fidelity, and a device where a layer costs 1ms plus 0.5ms a shard
// and reads run at 100 MB/s with 0.2ms latency.
func handProfiles(t *testing.T, s *shardstore.Store) *Profiles {
	t.Helper()
	g, err := GeometryFromManifest(s.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config()
	imp := &ImportanceProfile{Layers: c.Layers, Heads: c.Heads, Bits: g.Bits}
	for range c.Layers {
		var row []ShardImportance
		for h := range c.Heads {
			si := ShardImportance{Dropped: 1 + float64(h)}
			for _, b := range g.Bits {
				si.Loss = append(si.Loss, (1+float64(h))/float64(b*b))
			}
			row = append(row, si)
		}
		imp.Shards = append(imp.Shards, row)
	}
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	dev := &DeviceProfile{
		ReadBandwidth: 100e6, ReadLatency: ms(0.2),
		Compute: ComputeTable{
			SeqLens: []int{8, 128}, ShardCounts: []int{0, c.Heads},
			Layer: [][]time.Duration{{ms(1), ms(1 + 0.5*float64(c.Heads))}, {ms(2), ms(2 + 1*float64(c.Heads))}},
			Embed: []time.Duration{ms(0.1), ms(0.2)}, Head: []time.Duration{ms(0.1), ms(0.1)},
		},
	}
	p := &Profiles{Geometry: g, Importance: imp, Device: dev}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunnerBaselinesAgree(t *testing.T) {
	m, s, _ := testStore(t, "fixtures/tiny-bert", 4, 32)
	be, _ := backend.Get("native")
	ctx := context.Background()
	want, err := m.Forward(ctx, be, testIDs, nil)
	if err != nil {
		t.Fatal(err)
	}
	full := len(Uniform(m.Config, 32).Keys())
	for _, mode := range []Mode{ModeHoldInMemory, ModeLoadThenExec, ModeLayerwise} {
		t.Run(string(mode), func(t *testing.T) {
			r, err := NewRunner(ctx, s, be, RunnerOptions{Mode: mode, Fidelity: 32})
			if err != nil {
				t.Fatal(err)
			}
			got, info, err := r.Run(ctx, testIDs, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(got, want); d > 1e-6 {
				t.Errorf("logits differ from the dense model by %.2e", d)
			}
			wantReads := full
			if mode == ModeHoldInMemory {
				wantReads = 0
			}
			if info.Reads != wantReads {
				t.Errorf("%d blobs read per request, want %d", info.Reads, wantReads)
			}
		})
	}
	if _, err := NewRunner(ctx, s, be, RunnerOptions{Mode: ModeLayerwise, Fidelity: 8}); err == nil {
		t.Error("a baseline at a fidelity the store lacks was accepted")
	}
}

func TestRunnerWRXStaysWithinBudget(t *testing.T) {
	_, s, _ := testStore(t, "fixtures/tiny-bert", 2, 4, 8, 32)
	be, _ := backend.Get("native")
	ctx := context.Background()
	prof := handProfiles(t, s)
	for _, budget := range []int64{0, 64 << 10, 1 << 20} {
		r, err := NewRunner(ctx, s, be, RunnerOptions{Target: 40 * time.Millisecond, Budget: budget, Profiles: prof})
		if err != nil {
			t.Fatal(err)
		}
		_, info, err := r.Run(ctx, testIDs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if info.PreloadBytes > budget {
			t.Errorf("budget %d: preload holds %d bytes", budget, info.PreloadBytes)
		}
		if info.Plan == nil || info.Plan.PredictedLatency > 40*time.Millisecond {
			t.Errorf("budget %d: plan %+v predicted over the target", budget, info.Plan)
		}
		if bound := info.ResidentBytes + budget + info.Plan.InFlightBytes; info.PeakWeightBytes > bound {
			t.Errorf("budget %d: peak weight bytes %d above budget + resident + in-flight bound %d", budget, info.PeakWeightBytes, bound)
		}
	}
	_, err := NewRunner(ctx, s, be, RunnerOptions{Target: time.Microsecond, Budget: 0, Profiles: prof})
	var inf *InfeasibleError
	if !errors.As(err, &inf) {
		t.Fatalf("a 1µs target: err = %v, want an InfeasibleError", err)
	}
	if _, err := NewRunner(ctx, s, be, RunnerOptions{Target: time.Second}); err == nil {
		t.Error("wrx mode without profiles was accepted")
	}
}

func TestRunnerSlackIsHighPercentileOfRatios(t *testing.T) {
	r := &Runner{slack: 1}
	for i := range 100 {
		// Measured/predicted ratios 0.5, 0.51, …, 1.49.
		r.observe(time.Duration(500+10*i)*time.Microsecond, time.Millisecond)
	}
	// The 99th percentile of 100 ratios is the 99th smallest: 1.48.
	if got := r.Slack(); math.Abs(got-1.48) > 1e-9 {
		t.Errorf("slack = %v, want 1.48", got)
	}
	// The window keeps the last 100: after 100 ratios of 0.9 the slack is 1.
	for range 100 {
		r.observe(900*time.Microsecond, time.Millisecond)
	}
	if got := r.Slack(); got != 1 {
		t.Errorf("after the window moved past the slow requests: slack = %v, want 1", got)
	}
	fast := &Runner{slack: 1}
	for range 10 {
		fast.observe(time.Millisecond/2, time.Millisecond)
	}
	if got := fast.Slack(); got != 1 {
		t.Errorf("a device faster than its profile: slack = %v, want 1 (never plan past the target)", got)
	}
}

func TestRunnerRefusesAProfileOfOtherThreads(t *testing.T) {
	_, s, _ := testStore(t, "fixtures/tiny-bert", 2, 32)
	prof := handProfiles(t, s)
	prof.Device.Threads = 3
	be := native.New(native.Options{Threads: 1})
	_, err := NewRunner(context.Background(), s, be, RunnerOptions{Target: time.Second, Profiles: prof})
	if err == nil || !strings.Contains(err.Error(), "3 compute threads") || !strings.Contains(err.Error(), "has 1") {
		t.Errorf("a profile of 3 threads with a 1-thread backend: err = %v", err)
	}
	prof.Device.Threads = 1
	if _, err := NewRunner(context.Background(), s, be, RunnerOptions{Target: time.Second, Profiles: prof}); err != nil {
		t.Errorf("matching threads: %v", err)
	}
	if n := ComputeThreads(); n < 1 || n > max(1, runtime.GOMAXPROCS(0)-1) {
		t.Errorf("ComputeThreads() = %d with GOMAXPROCS %d", n, runtime.GOMAXPROCS(0))
	}
}
