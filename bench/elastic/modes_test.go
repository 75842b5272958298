package elasticbench

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

func TestBaselinesAgreeWithTheDenseModel(t *testing.T) {
	m, s, _ := storetest.SynthFixture(t, "fixtures/tiny-bert", 4, 32)
	be, _ := backend.Get("native")
	ctx := context.Background()
	ids := []int{101, 2009, 1005, 1055, 1037, 11951, 1998, 2411, 12473, 4990, 1012, 102}
	want, err := m.Forward(ctx, be, ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	full := 2 * m.Config.Layers * m.Config.Heads
	for _, mode := range []Mode{ModeHoldInMemory, ModeQuantizedHold, ModeLoadThenExec, ModeLayerwise} {
		t.Run(string(mode), func(t *testing.T) {
			r, err := newBaseline(ctx, s, be, mode, 32)
			if err != nil {
				t.Fatal(err)
			}
			got, info, err := r.Run(ctx, time.Time{}, ids, nil)
			if err != nil {
				t.Fatal(err)
			}
			var d float64
			for i := range got {
				d = max(d, math.Abs(float64(got[i]-want[i])))
			}
			if d > 1e-6 {
				t.Errorf("logits differ from the dense model by %.2e", d)
			}
			wantReads := full
			if mode == ModeHoldInMemory || mode == ModeQuantizedHold {
				wantReads = 0
			}
			if info.Reads != wantReads {
				t.Errorf("%d blobs read per request, want %d", info.Reads, wantReads)
			}
			// The streaming baselines read a layer at a time.
			if wantReads > 0 && info.StorageReads != m.Config.Layers {
				t.Errorf("%d storage reads per request, want one per layer, %d", info.StorageReads, m.Config.Layers)
			}
		})
	}
	// At 4 bits quantized-hold holds the shards' 4-bit codes, fused into
	// backend.Int4 layers on native (which has 4-bit kernels), and the
	// resident parts, and no word table: the 4-bit blobs' bytes, give or
	// take the fused layers' per-row scales and sums and dictionaries in
	// place of the blobs' headers and centroids.
	q4, err := newBaseline(ctx, s, be, ModeQuantizedHold, 4)
	if err != nil {
		t.Fatal(err)
	}
	want4 := s.ResidentBytes()
	for l := range m.Config.Layers {
		for h := range m.Config.Heads {
			for _, part := range []shardstore.Part{shardstore.Attention, shardstore.FFN} {
				want4 += s.Size(shardstore.Key{Layer: l, Head: h, Part: part, Fidelity: 4})
			}
		}
	}
	if got := q4.ResidentBytes(); got < want4*95/100 || got > want4*110/100 {
		t.Errorf("quantized-hold@4 holds %d bytes, want %d ± 10%% (4-bit shards and resident parts)", got, want4)
	}
	if _, err := newBaseline(ctx, s, be, ModeLayerwise, 8); err == nil {
		t.Error("a baseline at a fidelity the store lacks was accepted")
	}
}

// TestHoldAtEightBitsIsInt8: hold-in-memory at 8 bits holds the model as
// int8 (layers and word table, integer kernels), under 0.35× the memory
// it counts at 32 bits, and answers with the 32-bit hold's label.
func TestHoldAtEightBitsIsInt8(t *testing.T) {
	_, s, _ := storetest.Fixture(t, "fixtures/tiny-bert", 8, 32)
	be, err := backend.Get("native")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := []int{101, 2009, 1005, 1055, 1037, 11951, 1998, 2411, 12473, 4990, 1012, 102}
	var logits [2][]float32
	var mem [2]int64
	for i, f := range []quant.Fidelity{8, 32} {
		r, err := newBaseline(ctx, s, be, ModeHoldInMemory, f)
		if err != nil {
			t.Fatal(err)
		}
		if logits[i], _, err = r.Run(ctx, time.Time{}, ids, nil); err != nil {
			t.Fatal(err)
		}
		mem[i] = r.ResidentBytes()
	}
	if r := float64(mem[0]) / float64(mem[1]); r > 0.35 {
		t.Errorf("hold at 8 bits counts %d bytes, %.2f× the %d at 32 bits; want <= 0.35", mem[0], r, mem[1])
	}
	if argmax(logits[0]) != argmax(logits[1]) {
		t.Errorf("8-bit logits %v, 32-bit %v: another label", logits[0], logits[1])
	}
}
