package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/wrxlabs/wrx/quant"
)

const us = time.Microsecond

// timingProfiles is a model small enough to time by hand: L layers of 2
// heads, stored at 4 and 8 bits. A byte takes 1 µs to read and a read
// costs 100 µs more, so an attention blob reads in 1100 µs at 4 bits and
// 2100 µs at 8, an FFN blob in 2100 µs and 4100 µs. A layer costs 200 µs
// with no shard and 1000 µs with both (600 µs with one), so a shard's half
// costs 200 µs either way and each fixed part 100 µs. At S=16 the batched
// embedding read is 100 + 16×100 µs.
func timingProfiles(layers int) *Profiles {
	bits := []quant.Fidelity{4, 8}
	geo := UniformGeometry(layers, 2, bits, 100, func(b quant.Fidelity) BlobSizes {
		return BlobSizes{Attn: 250 * int64(b), FFN: 500 * int64(b)}
	})
	im := &ImportanceProfile{Layers: layers, Heads: 2, Bits: bits, Shards: make([][]ShardImportance, layers)}
	for l := range im.Shards {
		im.Shards[l] = []ShardImportance{
			{Loss: []float64{0.3, 0.1}, Dropped: 1},
			{Loss: []float64{0.2, 0.05}, Dropped: 0.5},
		}
	}
	dev := &DeviceProfile{
		ReadBandwidth: 1e6,
		ReadLatency:   100 * us,
		Compute: ComputeTable{
			SeqLens:     []int{16},
			ShardCounts: []int{0, 2},
			Layer:       [][]time.Duration{{200 * us, 1000 * us}},
			Embed:       []time.Duration{50 * us},
			Head:        []time.Duration{30 * us},
		},
	}
	return &Profiles{Geometry: geo, Importance: im, Device: dev}
}

func TestSimulateHandComputed(t *testing.T) {
	prof := timingProfiles(2)
	// Layer 0: head 0 resident at 4 bits, head 1 streamed at 4 bits.
	// Layer 1: head 0 streamed at 8 bits, head 1 dropped.
	plan := &Plan{
		SeqLen:   16,
		RowReads: RowReadsBatched,
		Layers: []LayerPlan{
			{Layer: 0, Shards: []ShardChoice{{Head: 0, Bits: 4, Preloaded: true}, {Head: 1, Bits: 4}}},
			{Layer: 1, Shards: []ShardChoice{{Head: 0, Bits: 8}}},
		},
		IO: []BlobRead{
			{Layer: 0, Head: 1, Part: Attention, Bits: 4, Bytes: 1000},
			{Layer: 0, Head: 1, Part: FFN, Bits: 4, Bytes: 2000},
			{Layer: 1, Head: 0, Part: Attention, Bits: 8, Bytes: 2000},
			{Layer: 1, Head: 0, Part: FFN, Bits: 8, Bytes: 4000},
		},
		Preload: []ShardVersion{{Layer: 0, Head: 0, Bits: 4, Bytes: 3000}},
	}
	tests := []struct {
		name string
		k    int
		want Timing
	}{
		{
			// Rows arrive at 1700, compute starts at 1750. Layer 0: the
			// resident half 1750-1950; blob 0 arrives 2800, runs to 3000;
			// fixed to 3100; resident FFN half to 3300; blob 1 may only be
			// read once blob 0 is consumed (3000), arrives 5100, runs to
			// 5300; fixed to 5400. Layer 1: blob 2 is read from 5300 (blob 1
			// consumed), arrives 7400, runs to 7600, fixed to 7700; blob 3 is
			// read from 7600, arrives 11700, runs to 11900, fixed to 12000.
			// Head: 12030.
			name: "one buffer",
			k:    1,
			want: Timing{
				EmbeddingRead: 1700 * us, IOEnd: 11700 * us, Latency: 12030 * us,
				Layers: []LayerTiming{{Start: 1750 * us, Finish: 5400 * us, Order: []int{0, 1}}, {Start: 7400 * us, Finish: 12000 * us, Order: []int{0}}},
			},
		},
		{
			// Reads back to back: 2800, 4900, 7000, 11100. Layer 0: 1750,
			// 1950, blob 0 2800-3000, 3100, 3300, blob 1 4900-5100, 5200.
			// Layer 1: blob 2 7000-7200, 7300, blob 3 11100-11300, 11400.
			name: "unbounded",
			k:    0,
			want: Timing{
				EmbeddingRead: 1700 * us, IOEnd: 11100 * us, Latency: 11430 * us,
				Layers: []LayerTiming{{Start: 1750 * us, Finish: 5200 * us, Order: []int{0, 1}}, {Start: 7000 * us, Finish: 11400 * us, Order: []int{0}}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan.InFlightBlobs = tc.k
			got, err := Simulate(plan, prof)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tc.want, got); diff != "" {
				t.Errorf("timing (-want +got):\n%s", diff)
			}
		})
	}
}

// One layer of the hand model with nothing preloaded and T = 12 ms. By hand
// (reads back to back from 1700 µs, compute from 1750 µs):
//
//	nothing          1980 µs  loss 1.5
//	both at 4 bits   8430 µs  loss 0.5
//	head 0 at 8      11430 µs loss 0.3   <- best within 12 ms
//	head 1 at 8      11430 µs loss 0.35
//	both at 8        14430 µs loss 0.15  (misses)
//
// The head 0 at 8 bits plan: reads end at 3800, 4900, 9000, 11100; compute
// 3800-4000, 4900-5100, fixed to 5200, 9000-9200, 11100-11300, fixed to
// 11400, head to 11430. The device reads for 11100 µs (rows 1700, blobs
// 2100 + 1100 + 4100 + 2100) and computes for 1080 µs (embedding 50, four
// shard halves of 200, fixed 2 × 100, head 30).
const handPlanJSON = `{
  "strategy": "%s",
  "target_ns": 12000000,
  "budget_bytes": 0,
  "seq_len": 16,
  "row_reads": "batched",
  "layers": [
    {"layer": 0, "shards": [{"head": 0, "bits": 8}, {"head": 1, "bits": 4}], "start_ns": 3800000, "finish_ns": 11400000}
  ],
  "io": [
    {"layer": 0, "head": 0, "part": "attn", "bits": 8, "bytes": 2000},
    {"layer": 0, "head": 1, "part": "attn", "bits": 4, "bytes": 1000},
    {"layer": 0, "head": 0, "part": "ffn", "bits": 8, "bytes": 4000},
    {"layer": 0, "head": 1, "part": "ffn", "bits": 4, "bytes": 2000}
  ],
  "preload": [],
  "preload_bytes": 0,
  "in_flight_blobs": 4,
  "in_flight_bytes": 16000,
  "predicted_latency_ns": 11430000,
  "predicted_io_ns": 11100000,
  "predicted_compute_ns": 1080000,
  "profiled_latency_ns": 11430000,
  "predicted_loss": 0.3,
  "best_loss": 0.3
}`

func TestPlanJSONHandCase(t *testing.T) {
	for _, strat := range Strategies() {
		t.Run(string(strat), func(t *testing.T) {
			pl, err := New(timingProfiles(1), Options{Strategy: strat, RowReads: RowReadsBatched})
			if err != nil {
				t.Fatal(err)
			}
			plan, err := pl.Plan(Request{Target: 12 * time.Millisecond, Budget: 0, SeqLen: 16})
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(plan)
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(sprintf(handPlanJSON, strat)), &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-12)); diff != "" {
				t.Errorf("plan JSON (-want +got):\n%s", diff)
			}
			var back Plan
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(plan, &back); diff != "" {
				t.Errorf("JSON round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// A plan must run a shard. Below the latency of the fastest one nothing is
// feasible, and the error says so: by hand, the batched row read (100 µs +
// 1600 B at 1 MB/s), embedding 50 µs, the layer's fixed 200 µs, one
// resident shard (1000−200)/2 = 400 µs and the head 30 µs: 2380 µs. With
// 1 MB of budget the preload set holds the shard that loses least, head 0
// at 8 bits, so the plan there reads nothing and loses 0.1 + 0.5.
func TestInfeasibleHandCase(t *testing.T) {
	pl, err := New(timingProfiles(1), Options{RowReads: RowReadsBatched})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pl.Plan(Request{Target: 2379 * us, Budget: 1 << 20, SeqLen: 16})
	var ie *InfeasibleError
	if !errors.As(err, &ie) {
		t.Fatalf("got %v, want an *InfeasibleError", err)
	}
	want := &InfeasibleError{Target: 2379 * us, Budget: 1 << 20, SeqLen: 16, MinTarget: 2380 * us, MinBudget: -1}
	if diff := cmp.Diff(want, ie); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if got, err := MinTarget(pl, 1<<20, 16); err != nil || got != 2380*us {
		t.Errorf("MinTarget = %v, %v; want 2.38ms", got, err)
	}
	plan, err := pl.Plan(Request{Target: 2380 * us, Budget: 1 << 20, SeqLen: 16})
	if err != nil {
		t.Fatal(err)
	}
	want1 := []ShardChoice{{Head: 0, Bits: 8, Preloaded: true}}
	if !cmp.Equal(plan.Layers[0].Shards, want1) || math.Abs(plan.PredictedLoss-0.6) > 1e-12 || len(plan.IO) != 0 {
		t.Errorf("at the minimum target the plan runs %+v with loss %v and %d reads, want %+v, 0.6 and none", plan.Layers, plan.PredictedLoss, len(plan.IO), want1)
	}
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

func TestSimulateRejectsInconsistentPlans(t *testing.T) {
	good := func() *Plan {
		return &Plan{
			SeqLen: 16, InFlightBlobs: 2,
			Layers: []LayerPlan{
				{Layer: 0, Shards: []ShardChoice{{Head: 0, Bits: 4, Preloaded: true}, {Head: 1, Bits: 8}}},
			},
			IO: []BlobRead{
				{Layer: 0, Head: 1, Part: Attention, Bits: 8, Bytes: 2000},
				{Layer: 0, Head: 1, Part: FFN, Bits: 8, Bytes: 4000},
			},
			Preload: []ShardVersion{{Layer: 0, Head: 0, Bits: 4, Bytes: 3000}},
		}
	}
	prof := timingProfiles(1)
	if _, err := Simulate(good(), prof); err != nil {
		t.Fatalf("consistent plan: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(p *Plan)
	}{
		{"IO out of order", func(p *Plan) { p.IO[0], p.IO[1] = p.IO[1], p.IO[0] }},
		{"IO missing a blob", func(p *Plan) { p.IO = p.IO[:1] }},
		{"resident version not preloaded", func(p *Plan) { p.Preload = nil }},
		{"resident at another fidelity", func(p *Plan) { p.Layers[0].Shards[0].Bits = 8 }},
		{"unknown fidelity", func(p *Plan) { p.Layers[0].Shards[1].Bits = 5 }},
		{"head out of range", func(p *Plan) { p.Layers[0].Shards[1].Head = 2 }},
		{"head twice", func(p *Plan) { p.Layers[0].Shards[1].Head = 0 }},
		{"missing layer", func(p *Plan) { p.Layers = nil }},
		{"wrong preload size", func(p *Plan) { p.Preload[0].Bytes = 1 }},
		{"no sequence length", func(p *Plan) { p.SeqLen = 0 }},
	}
	for _, tc := range tests {
		p := good()
		tc.mutate(p)
		if _, err := Simulate(p, prof); err == nil {
			t.Errorf("%s: Simulate accepted the plan", tc.name)
		}
	}
}

// InfeasibleError prints sizes in decimal units with the exact byte count
// (internal/units.FormatBytesExact), as the CLI's --budget reads them.
func TestInfeasibleErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  InfeasibleError
		want string
	}{
		{
			InfeasibleError{Target: 20 * time.Millisecond, Budget: 2_000_000, SeqLen: 32, MinTarget: 35 * time.Millisecond, MinBudget: 2_097_152},
			"plan: no plan meets target 20ms with budget 2.00MB (2000000 bytes) at sequence length 32: the smallest feasible target is 35ms; at 20ms the smallest feasible budget is 2.10MB (2097152 bytes)",
		},
		{
			InfeasibleError{Target: time.Millisecond, Budget: 512, SeqLen: 8, MaxLoss: 0.5, MinBudget: -1},
			"plan: no plan meets target 1ms with budget 512 bytes at sequence length 8 and loss ≤ 0.5: no target is feasible",
		},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() =\n%s\nwant\n%s", got, tc.want)
		}
	}
}

// A request's Scale plans as the profile would with its times stretched:
// doubling the IO scale is halving the bandwidth and doubling the per-read
// latency, and tripling the compute scale is tripling every compute time.
// The hand profile's times are whole microseconds, so rounding agrees.
func TestScaleIsAStretchedProfile(t *testing.T) {
	stretched := timingProfiles(2)
	stretched.Device.ReadBandwidth /= 2
	stretched.Device.ReadLatency *= 2
	c := &stretched.Device.Compute
	for _, ts := range [][]time.Duration{c.Layer[0], c.Embed, c.Head} {
		for i := range ts {
			ts[i] *= 3
		}
	}
	sc := Scale{IO: 2, Compute: 3}
	for _, strat := range Strategies() {
		scaledPl, err := New(timingProfiles(2), Options{Strategy: strat})
		if err != nil {
			t.Fatal(err)
		}
		stretchedPl, err := New(stretched, Options{Strategy: strat})
		if err != nil {
			t.Fatal(err)
		}
		pre, err := scaledPl.Preload(40*time.Millisecond, 3000)
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond} {
			req := Request{Target: target, Budget: 3000, SeqLen: 16, Preload: pre, CachedRows: 4}
			want, err := stretchedPl.Plan(req)
			if err != nil {
				t.Fatalf("%s at %v: stretched profile: %v", strat, target, err)
			}
			req.Scale = sc
			got, err := scaledPl.Plan(req)
			if err != nil {
				t.Fatalf("%s at %v: scaled: %v", strat, target, err)
			}
			if got.Scale != sc {
				t.Errorf("%s at %v: plan scale %+v, want %+v", strat, target, got.Scale, sc)
			}
			// The profile alone predicts no more than the stretched one.
			if got.ProfiledLatency <= 0 || got.ProfiledLatency > got.PredictedLatency || want.ProfiledLatency != want.PredictedLatency {
				t.Errorf("%s at %v: profiled latency %v, predicted %v (stretched profile: %v, %v)", strat, target,
					got.ProfiledLatency, got.PredictedLatency, want.ProfiledLatency, want.PredictedLatency)
			}
			got.Scale, got.ProfiledLatency = Scale{}, want.ProfiledLatency
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s at %v: scaled plan differs from the stretched profile's (-want +got):\n%s", strat, target, diff)
			}
			got.Scale = sc
			tm, err := Simulate(got, timingProfiles(2))
			if err != nil {
				t.Fatal(err)
			}
			if tm.Latency != got.PredictedLatency {
				t.Errorf("%s at %v: Simulate of the scaled plan: %v, plan predicts %v", strat, target, tm.Latency, got.PredictedLatency)
			}
			minScaled, err := MinTargetFor(scaledPl, req)
			if err != nil {
				t.Fatal(err)
			}
			req.Scale = Scale{}
			minStretched, err := MinTargetFor(stretchedPl, req)
			if err != nil {
				t.Fatal(err)
			}
			if minScaled != minStretched {
				t.Errorf("%s: minimum target %v scaled, %v stretched", strat, minScaled, minStretched)
			}
		}
	}
	pl, err := New(timingProfiles(1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Scale{{IO: -1}, {Compute: math.NaN()}, {IO: math.Inf(1)}} {
		if _, err := pl.Plan(Request{Target: time.Second, SeqLen: 4, Scale: bad}); err == nil {
			t.Errorf("scale %+v accepted", bad)
		}
	}
}

// A request's word rows read one by one take RowReadFixed + n·RowReadTime
// when the profile times concurrent row reads, and n separate reads when
// it does not.
func TestRowReadTime(t *testing.T) {
	for _, c := range []struct {
		fixed, per time.Duration
		want       time.Duration
	}{
		{0, 0, 16 * (100 + 100) * us}, // 16 reads of 100 bytes at 1 MB/s + 100 µs
		{60 * us, 40 * us, (60 + 16*40) * us},
	} {
		prof := timingProfiles(1)
		prof.Device.RowReadFixed, prof.Device.RowReadTime = c.fixed, c.per
		p := &Plan{SeqLen: 16, RowReads: RowReadsEach, Layers: []LayerPlan{{Layer: 0, Shards: []ShardChoice{{Head: 0, Bits: 4}}}},
			IO: []BlobRead{{Layer: 0, Head: 0, Part: Attention, Bits: 4, Bytes: 1000}, {Layer: 0, Head: 0, Part: FFN, Bits: 4, Bytes: 2000}}}
		tm, err := Simulate(p, prof)
		if err != nil {
			t.Fatal(err)
		}
		if tm.EmbeddingRead != c.want {
			t.Errorf("rows at %v + %v each: embedding read %v, want %v", c.fixed, c.per, tm.EmbeddingRead, c.want)
		}
	}
	prof := timingProfiles(1)
	prof.Device.RowReadTime = -1
	if err := prof.Validate(); err == nil {
		t.Error("a negative row read time validated")
	}
}

// With merged reads, the heads streamed at one fidelity within a part are
// one read that pays the latency once, and all its blobs arrive when it
// ends. Profile of timingProfiles with a 1000 µs latency, both heads
// streamed at 4 bits (1000 B attention, 2000 B FFN blobs at 1 MB/s):
//
//	separate reads: rows 2600, a0 io 4600, a1 6600, f0 9600, f1 12600,
//	  compute ends 12800, fixed 12900, head 12930 µs;
//	merged: attention run 2600..5600 (1000 + 2×1000), computed to 6000,
//	  fixed 6100; FFN run 5600..10600 (1000 + 2×2000), computed to 11000,
//	  fixed 11100, head 11130 µs.
func TestSimulateMergedReads(t *testing.T) {
	for _, c := range []struct {
		name       string
		contiguous bool
		maxRead    int64
		k          int
		want       time.Duration
	}{
		{"separate", true, 0, 4, 12930 * us},
		{"merged", true, 1 << 20, 4, 11130 * us},
		{"not contiguous", false, 1 << 20, 4, 12930 * us},
		{"one buffer", true, 1 << 20, 1, 13530 * us}, // a run needs a buffer per blob: one read at a time, each waiting for the last to be computed
		{"small reads", true, 1999, 4, 12930 * us},   // no two blobs fit
	} {
		t.Run(c.name, func(t *testing.T) {
			prof := timingProfiles(1)
			prof.Device.ReadLatency = 1000 * us
			prof.Geometry.Contiguous = c.contiguous
			p := &Plan{SeqLen: 16, RowReads: RowReadsBatched, InFlightBlobs: c.k, MaxReadBytes: c.maxRead,
				Layers: []LayerPlan{{Layer: 0, Shards: []ShardChoice{{Head: 0, Bits: 4}, {Head: 1, Bits: 4}}}},
				IO: []BlobRead{
					{Layer: 0, Head: 0, Part: Attention, Bits: 4, Bytes: 1000}, {Layer: 0, Head: 1, Part: Attention, Bits: 4, Bytes: 1000},
					{Layer: 0, Head: 0, Part: FFN, Bits: 4, Bytes: 2000}, {Layer: 0, Head: 1, Part: FFN, Bits: 4, Bytes: 2000},
				}}
			tm, err := Simulate(p, prof)
			if err != nil {
				t.Fatal(err)
			}
			if tm.Latency != c.want {
				t.Errorf("latency %v, want %v", tm.Latency, c.want)
			}
		})
	}
}

// A blob's decode time, which the executor spends on its IO side after the
// read, adds to its read time: rows 1700, attention blob 1700 + 1100 + 500
// = 3300, computed to 3500, fixed 3600; FFN blob 3300 + 2100 + 700 = 6100,
// computed to 6300, fixed 6400, head 6430 µs.
func TestSimulateDecodeTime(t *testing.T) {
	prof := timingProfiles(1)
	prof.Device.Decode = []DecodeTime{{Bits: 4, Attention: 500 * us, FFN: 700 * us}, {Bits: 8, Attention: time.Second}}
	p := &Plan{SeqLen: 16, RowReads: RowReadsBatched, InFlightBlobs: 4,
		Layers: []LayerPlan{{Layer: 0, Shards: []ShardChoice{{Head: 0, Bits: 4}}}},
		IO:     []BlobRead{{Layer: 0, Head: 0, Part: Attention, Bits: 4, Bytes: 1000}, {Layer: 0, Head: 0, Part: FFN, Bits: 4, Bytes: 2000}}}
	tm, err := Simulate(p, prof)
	if err != nil {
		t.Fatal(err)
	}
	if want := 6430 * us; tm.Latency != want {
		t.Errorf("latency %v, want %v", tm.Latency, want)
	}
	prof.Device.Decode[0].FFN = -1
	if err := prof.Validate(); err == nil {
		t.Error("a negative decode time validated")
	}
}
