package plan

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/quant"
)

// interpDevice measures a layer at S=10 and S=20 and at 0, 2 and 4 shards:
// 100, 300, 400 µs at S=10 and 200, 600, 800 µs at S=20.
func interpDevice() *DeviceProfile {
	return &DeviceProfile{
		ReadBandwidth: 2e6, // 2 bytes/µs
		ReadLatency:   50 * us,
		Compute: ComputeTable{
			SeqLens:     []int{10, 20},
			ShardCounts: []int{0, 2, 4},
			Layer:       [][]time.Duration{{100 * us, 300 * us, 400 * us}, {200 * us, 600 * us, 800 * us}},
			Embed:       []time.Duration{10 * us, 20 * us},
			Head:        []time.Duration{5 * us, 9 * us},
		},
		Dequant: []DequantFactor{{Bits: 2, Factor: 1.25}},
	}
}

func TestDeviceInterpolation(t *testing.T) {
	d := interpDevice()
	tests := []struct {
		name      string
		n, seqLen int
		want      time.Duration
	}{
		{"measured", 2, 10, 300 * us},
		{"between counts", 1, 10, 200 * us},
		{"between counts, upper segment", 3, 20, 700 * us},
		{"past the last count", 6, 10, 500 * us},                // 400 + 2×50
		{"between lengths", 2, 15, 450 * us},                    // halfway between 300 and 600
		{"below the first length", 4, 5, 400 * us},              // the first length's time
		{"past the last length", 2, 40, 2400 * us},              // 600 × (40/20)²
		{"between both", 1, 15, 300 * us},                       // 200 at S=10, 400 at S=20
		{"past both", 8, 30, time.Duration(1200 * 2.25 * 1000)}, // (800+2×200) × 1.5²
	}
	for _, tc := range tests {
		if got := d.LayerTime(tc.n, tc.seqLen); got != tc.want {
			t.Errorf("%s: LayerTime(%d, %d) = %v, want %v", tc.name, tc.n, tc.seqLen, got, tc.want)
		}
	}
	if got := d.EmbedTime(15); got != 15*us {
		t.Errorf("EmbedTime(15) = %v, want 15µs", got)
	}
	if got := d.HeadTime(40); got != 36*us {
		t.Errorf("HeadTime(40) = %v, want 36µs", got)
	}
	if got := d.ReadTime(1000); got != 550*us {
		t.Errorf("ReadTime(1000) = %v, want 550µs", got)
	}
	if d.DequantFactor(2) != 1.25 || d.DequantFactor(8) != 1 {
		t.Errorf("DequantFactor: 2 bits %v, 8 bits %v; want 1.25 and 1", d.DequantFactor(2), d.DequantFactor(8))
	}
}

func TestProfilesValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *Profiles)
		want   string // substring of the error; empty for valid
	}{
		{"valid", func(*Profiles) {}, ""},
		{"no geometry", func(p *Profiles) { p.Geometry = nil }, "geometry is missing"},
		{"unsorted bits", func(p *Profiles) { p.Geometry.Bits = []quant.Fidelity{8, 4} }, "not strictly increasing"},
		{"zero blob", func(p *Profiles) { p.Geometry.Sizes[1][0][1].FFN = 0 }, "layer 1 head 0 at 8 bits"},
		{"short sizes", func(p *Profiles) { p.Geometry.Sizes = p.Geometry.Sizes[:1] }, "cover 1 layers, want 2"},
		{"missing fidelity", func(p *Profiles) {
			p.Importance.Bits = []quant.Fidelity{4, 16}
		}, "no losses at 8 bits"},
		{"NaN loss", func(p *Profiles) { p.Importance.Shards[0][1].Loss[0] = nan() }, "layer 0 head 1 at 4 bits is NaN"},
		{"importance shape", func(p *Profiles) { p.Importance.Heads = 3 }, "covers 2 heads, header says 3"},
		{"bandwidth", func(p *Profiles) { p.Device.ReadBandwidth = 0 }, "read bandwidth"},
		{"no zero count", func(p *Profiles) { p.Device.Compute.ShardCounts = []int{1, 2} }, "must start at 0"},
		{"ragged table", func(p *Profiles) { p.Device.Compute.Layer[0] = p.Device.Compute.Layer[0][:1] }, "has 1 times for 2 shard counts"},
		{"negative time", func(p *Profiles) { p.Device.Compute.Head[0] = -1 }, "negative"},
		{"dequant factor", func(p *Profiles) { p.Device.Dequant = []DequantFactor{{Bits: 4, Factor: 0}} }, "at 4 bits is 0"},
		{"read depths", func(p *Profiles) {
			p.Device.ReadQueue = 4
			p.Device.Depths = []ReadDepth{{Queue: 1, Bandwidth: 1e6, Latency: us}, {Queue: 2, Bandwidth: 1e6, Latency: us}}
		}, ""},
		{"depth past the queue", func(p *Profiles) {
			p.Device.ReadQueue = 2
			p.Device.Depths = []ReadDepth{{Queue: 4, Bandwidth: 1e6}}
		}, "must increase within [1, 2]"},
		{"unsorted depths", func(p *Profiles) {
			p.Device.ReadQueue = 4
			p.Device.Depths = []ReadDepth{{Queue: 2, Bandwidth: 1e6}, {Queue: 1, Bandwidth: 1e6}}
		}, "must increase"},
		{"depth bandwidth", func(p *Profiles) {
			p.Device.ReadQueue = 4
			p.Device.Depths = []ReadDepth{{Queue: 1}}
		}, "reads at depth 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := timingProfiles(2)
			tc.mutate(p)
			err := p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

// Profiles are stored as JSON; they must come back identical.
func TestProfilesJSONRoundTrip(t *testing.T) {
	p := timingProfiles(2)
	p.Device.Dequant = []DequantFactor{{Bits: 4, Factor: 1.1}}
	p.Importance.Shards[1][0].AccDelta = []float64{-0.01, 0}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Profiles
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, &back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	prof := timingProfiles(1)
	for _, opts := range []Options{{Strategy: "dp"}, {InFlight: -1}, {PreloadSeqLen: -4}, {MaxLoss: -1}, {RowReads: 7}} {
		if _, err := New(prof, opts); err == nil {
			t.Errorf("New(%+v) succeeded", opts)
		}
	}
	pl, err := New(prof, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []Request{
		{Target: 0, SeqLen: 8},
		{Target: time.Second, Budget: -1, SeqLen: 8},
		{Target: time.Second, SeqLen: 0},
		{Target: time.Second, SeqLen: 8, Preload: &Preload{Shards: []ShardVersion{{Layer: 0, Head: 0, Bits: 4}}}},                  // over budget 0
		{Target: time.Second, Budget: 1 << 20, SeqLen: 8, Preload: &Preload{Shards: []ShardVersion{{Layer: 3, Head: 0, Bits: 4}}}}, // no layer 3
		{Target: time.Second, Budget: 1 << 20, SeqLen: 8, Preload: &Preload{Shards: []ShardVersion{{Layer: 0, Head: 0, Bits: 5}}}}, // no 5 bits
	} {
		if _, err := pl.Plan(req); err == nil {
			t.Errorf("Plan(%+v) succeeded", req)
		}
	}
}

// TestPlannerReadsAtItsDepth: a planner whose in-flight buffers are fewer
// than the profile's read queue keeps at most one read in flight per
// buffer, so it times reads with the profile's measurements at the
// deepest depth within them; Simulate and LowerBound see the plan's
// buffers the same way.
func TestPlannerReadsAtItsDepth(t *testing.T) {
	p := timingProfiles(2)
	dev := p.Device
	dev.ReadQueue = 4
	dev.ReadBandwidth, dev.ReadLatency = 4e6, 10*us
	dev.Depths = []ReadDepth{{Queue: 1, Bandwidth: 1e6, Latency: 100 * us}, {Queue: 2, Bandwidth: 2e6, Latency: 40 * us}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		k       int
		bw      float64
		lat     time.Duration
		queue   int
		profile *DeviceProfile
	}{
		{1, 1e6, 100 * us, 1, nil}, {2, 2e6, 40 * us, 2, nil}, {3, 2e6, 40 * us, 3, nil}, {4, 4e6, 10 * us, 4, dev}, {8, 4e6, 10 * us, 4, dev},
	} {
		got := dev.AtDepth(tc.k)
		if got.ReadBandwidth != tc.bw || got.ReadLatency != tc.lat || got.ReadQueue != tc.queue {
			t.Errorf("AtDepth(%d): %v bytes/s, %v, queue %d; want %v, %v, %d", tc.k, got.ReadBandwidth, got.ReadLatency, got.ReadQueue, tc.bw, tc.lat, tc.queue)
		}
		if tc.profile != nil && got != tc.profile {
			t.Errorf("AtDepth(%d) copied a profile it does not change", tc.k)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("AtDepth(%d): %v", tc.k, err)
		}
	}
	// Without measured depths, the latency at the queue's depth is that
	// of overlapped reads: one at a time bears all of it.
	bare := *dev
	bare.Depths = nil
	if got := bare.AtDepth(1); got.ReadLatency != 40*us || got.ReadBandwidth != 4e6 || got.ReadQueue != 1 {
		t.Errorf("no depths, AtDepth(1): %v bytes/s, %v, queue %d; want 4e6, 40µs, 1", got.ReadBandwidth, got.ReadLatency, got.ReadQueue)
	}
	full, err := Full(p.Geometry, 8)
	if err != nil {
		t.Fatal(err)
	}
	full.SeqLen = 10
	ioEnd := func(k int) time.Duration {
		pl := *full
		pl.InFlightBlobs = k
		tm, err := Simulate(&pl, p)
		if err != nil {
			t.Fatal(err)
		}
		return tm.IOEnd - tm.EmbeddingRead
	}
	var want1, want4 time.Duration
	for _, r := range full.IO {
		want1 += dev.AtDepth(1).ReadTime(r.Bytes)
		want4 += dev.ReadTime(r.Bytes)
	}
	// One buffer: every read waits for the compute of the one before, so
	// the IO ends after the reads' sum; four: at least that sum.
	if got := ioEnd(1); got < want1 {
		t.Errorf("one buffer: reads end %v after the rows, before the %v the depth-1 reads take", got, want1)
	}
	if got := ioEnd(4); got < want4 || got >= want1 {
		t.Errorf("four buffers: reads end %v after the rows, want at least %v (depth 4) and less than %v (depth 1)", got, want4, want1)
	}
	// The planner with one buffer predicts what Simulate does.
	pl, err := New(p, Options{InFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pl.Plan(Request{Target: time.Hour, Budget: 0, SeqLen: 10})
	if err != nil {
		t.Fatal(err)
	}
	tm, err := Simulate(plan, p)
	if err != nil {
		t.Fatal(err)
	}
	if tm.Latency != plan.PredictedLatency {
		t.Errorf("planner with one buffer predicts %v, Simulate says %v", plan.PredictedLatency, tm.Latency)
	}
}

// TestWithReadsScalesDepths: a device re-measured slower at its read
// queue is taken to be slower in proportion at every depth.
func TestWithReadsScalesDepths(t *testing.T) {
	dev := &DeviceProfile{ReadQueue: 4, ReadBandwidth: 4e6, ReadLatency: 10 * us,
		Depths: []ReadDepth{{Queue: 1, Bandwidth: 1e6, Latency: 100 * us}, {Queue: 2, Bandwidth: 2e6, Latency: 40 * us}}}
	got := dev.WithReads(2e6, 20*us)
	want := []ReadDepth{{Queue: 1, Bandwidth: 0.5e6, Latency: 200 * us}, {Queue: 2, Bandwidth: 1e6, Latency: 80 * us}}
	if got.ReadBandwidth != 2e6 || got.ReadLatency != 20*us {
		t.Errorf("WithReads: %v bytes/s, %v", got.ReadBandwidth, got.ReadLatency)
	}
	if diff := cmp.Diff(want, got.Depths); diff != "" {
		t.Errorf("depths (-want +got):\n%s", diff)
	}
	if dev.Depths[0].Latency != 100*us {
		t.Error("WithReads changed the profile it copied")
	}
}
