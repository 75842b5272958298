package elasticbench

import (
	"context"
	"testing"

	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// TestStreamBound: every streamed configuration reads every shard blob at
// the fidelity asked, the bytes the manifest records, with one storage
// read per blob unless merged; the compute-only row reads nothing.
func TestStreamBound(t *testing.T) {
	_, s, uri := storetest.SynthFixture(t, "fixtures/tiny-bert", 4, 32)
	c := s.Config()
	var want int64
	for l := range c.Layers {
		for h := range c.Heads {
			for _, part := range []shardstore.Part{shardstore.Attention, shardstore.FFN} {
				want += s.Size(shardstore.Key{Layer: l, Head: h, Part: part, Fidelity: quant.Fidelity(4)})
			}
		}
	}
	rows, err := StreamBound(context.Background(), StreamBoundOptions{Store: uri, Requests: 2, SeqLen: 8, Queues: []int{1, 4}, MaxReadBytes: 1 << 20, InFlight: 8, Bits: 4, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 2 depths × 2 merge settings + compute only", len(rows))
	}
	blobs := 2 * c.Layers * c.Heads
	for _, r := range rows[:4] {
		if r.IOBytes != want || r.Reads != blobs || r.P50 <= 0 || r.Min > r.P50 {
			t.Errorf("%+v: want %d bytes in %d blobs", r, want, blobs)
		}
		if merged := r.MaxReadBytes > 0; merged != (r.StorageReads < r.Reads) {
			t.Errorf("%+v: %d storage reads for %d blobs", r, r.StorageReads, r.Reads)
		}
	}
	if last := rows[4]; last.Queue != 0 || last.IOBytes != 0 || last.Reads != 0 || last.P50 <= 0 {
		t.Errorf("compute only: %+v", last)
	}
	if _, err := StreamBound(context.Background(), StreamBoundOptions{Store: uri, Requests: 1, SeqLen: 8, Queues: []int{8}, InFlight: 4}); err == nil {
		t.Error("a read queue deeper than the in-flight buffers was accepted")
	}
}
