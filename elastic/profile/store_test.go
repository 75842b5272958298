package profile

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

func TestGeometryFromManifest(t *testing.T) {
	m := &shardstore.Manifest{
		Config:       bert.Config{Layers: 1, Heads: 2},
		Fidelities:   []quant.Fidelity{8, 4},
		WordRowBytes: 1540,
		Blobs:        map[string]shardstore.Blob{},
	}
	// Sizes are read and held in whole 4 KiB sectors, so the geometry
	// rounds them up.
	for h := 0; h < 2; h++ {
		for _, f := range m.Fidelities {
			m.Blobs[shardstore.Key{Layer: 0, Head: h, Part: shardstore.Attention, Fidelity: f}.String()] = shardstore.Blob{Size: 4096*int64(f) + 4096*int64(h)}
			m.Blobs[shardstore.Key{Layer: 0, Head: h, Part: shardstore.FFN, Fidelity: f}.String()] = shardstore.Blob{Size: 8192*int64(f) - 1 + 2*int64(h)}
		}
	}
	g, err := GeometryFromManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	want := &plan.Geometry{
		Layers: 1, Heads: 2, Bits: []quant.Fidelity{4, 8}, EmbeddingRowBytes: 8192, // 1540 bytes may span two sectors
		Sizes: [][][]plan.BlobSizes{{
			{{Attn: 16384, FFN: 32768}, {Attn: 32768, FFN: 65536}},
			{{Attn: 20480, FFN: 36864}, {Attn: 36864, FFN: 69632}},
		}},
	}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("geometry (-want +got):\n%s", diff)
	}
	delete(m.Blobs, "L00/H01/ffn/8")
	if _, err := GeometryFromManifest(m); err == nil || !strings.Contains(err.Error(), "layer 0 head 1 ffn at 8 bits") {
		t.Errorf("missing blob: got %v", err)
	}
}

// TestThrottledAtDepth: a throttle's latency bounds a profile measured one
// read at a time, or on a Serial device; with q reads in flight on a
// device that overlaps them, a stream of reads of b bytes takes
// max(b/B, (L+b/B)/q) a read, which L/q + b/B bounds from above.
func TestThrottledAtDepth(t *testing.T) {
	d := &plan.DeviceProfile{ReadBandwidth: 2e9, ReadLatency: 50 * time.Microsecond}
	cfg := storage.ThrottleConfig{Bandwidth: 100e6, Latency: 800 * time.Microsecond}
	for _, tc := range []struct {
		queue  int
		serial bool
		want   time.Duration
	}{
		{0, false, 800 * time.Microsecond},
		{1, false, 800 * time.Microsecond},
		{4, false, 200 * time.Microsecond},
		{4, true, 800 * time.Microsecond},
		{32, false, 50 * time.Microsecond}, // the device's own latency is larger
	} {
		d.ReadQueue = tc.queue
		c := cfg
		c.Serial = tc.serial
		got := Throttled(d, c)
		wantQ := tc.queue
		if tc.serial {
			wantQ = 1 // a serial device reads one at a time
		}
		if got.ReadLatency != tc.want || got.ReadBandwidth != cfg.Bandwidth || got.ReadQueue != wantQ {
			t.Errorf("queue %d, serial %v: latency %v, bandwidth %v, queue %d; want %v, %v, %d",
				tc.queue, tc.serial, got.ReadLatency, got.ReadBandwidth, got.ReadQueue, tc.want, cfg.Bandwidth, wantQ)
		}
	}
	// The shallower depths measured are throttled each at its own depth;
	// on a serial device none is deeper than one read.
	d.ReadQueue = 4
	d.Depths = []plan.ReadDepth{{Queue: 1, Bandwidth: 2e9, Latency: 90 * time.Microsecond}, {Queue: 2, Bandwidth: 50e6, Latency: 70 * time.Microsecond}}
	want := []plan.ReadDepth{{Queue: 1, Bandwidth: 100e6, Latency: 800 * time.Microsecond}, {Queue: 2, Bandwidth: 50e6, Latency: 400 * time.Microsecond}}
	got := Throttled(d, cfg)
	if diff := cmp.Diff(want, got.Depths); diff != "" {
		t.Errorf("throttled depths (-want +got):\n%s", diff)
	}
	if d.Depths[0].Latency != 90*time.Microsecond {
		t.Error("Throttled changed the profile's depths")
	}
	serial := cfg
	serial.Serial = true
	if got := Throttled(d, serial); got.Depths != nil {
		t.Errorf("serial device: depths %v, want none", got.Depths)
	}
}
