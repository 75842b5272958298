package storage

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// memOrdered commits blobs to a mem store in the order given, so that
// consecutive keys are adjacent.
func memOrdered(t *testing.T, keys []string, sizes []int) Store {
	t.Helper()
	ctx := context.Background()
	name := t.Name()
	t.Cleanup(func() { DeleteMem(name) })
	w, err := Create(ctx, "mem:"+name, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if err := w.Put(ctx, k, bytes.Repeat([]byte{byte(i + 1)}, sizes[i])); err != nil {
			t.Fatal(err)
		}
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

func batchOf(s Store, keys ...string) []BlobRead {
	reads := make([]BlobRead, len(keys))
	for i, k := range keys {
		n, _ := s.Size(context.Background(), k)
		reads[i] = BlobRead{Key: k, Dst: make([]byte, n)}
	}
	return reads
}

// TestThrottleChargesRunsOnce checks that a throttled ReadBatch holds the
// device once per run of adjacent blobs, for the latency once plus all of
// the run's bytes at the bandwidth.
func TestThrottleChargesRunsOnce(t *testing.T) {
	mem := memOrdered(t, []string{"a", "b", "c", "d"}, []int{1000, 2000, 3000, 4000})
	clock := &fakeClock{t: time.Unix(0, 0)}
	cfg := ThrottleConfig{Bandwidth: 1e6, Latency: time.Millisecond}
	th := &ThrottledStore{s: mem, device: make(chan struct{}, 1), now: clock.now, sleep: clock.sleep}
	th.cfg.Store(&cfg)
	// a, b, c are one run; d is read after a gap (c is skipped), and then
	// a again, which does not follow d.
	if err := th.ReadBatch(context.Background(), batchOf(mem, "a", "b", "d", "a")); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{cfg.ReadTime(3000), cfg.ReadTime(4000), cfg.ReadTime(1000)}
	if diff := cmp.Diff(want, clock.sleeps); diff != "" {
		t.Errorf("throttle sleeps (-want +got):\n%s", diff)
	}
}

// TestCountingBatch checks that a counted ReadBatch records every blob,
// and each run of adjacent blobs as one device read.
func TestCountingBatch(t *testing.T) {
	mem := memOrdered(t, []string{"L0/a", "L0/b", "L0/c", "L1/a"}, []int{10, 20, 30, 40})
	c := Counting(mem)
	ctx := context.Background()
	reads := batchOf(mem, "L0/a", "L0/b", "L0/c", "L1/a")
	if err := c.ReadBatch(ctx, reads); err != nil {
		t.Fatal(err)
	}
	for i, r := range reads {
		if want := bytes.Repeat([]byte{byte(i + 1)}, len(r.Dst)); !bytes.Equal(r.Dst, want) {
			t.Errorf("%q: wrong bytes", r.Key)
		}
	}
	if _, err := c.ReadAt(ctx, "L0/a", make([]byte, 5), 0); err != nil {
		t.Fatal(err)
	}
	if n, b := c.Count(""); n != 5 || b != 105 {
		t.Errorf("Count = %d reads, %d bytes; want 5, 105", n, b)
	}
	if n := c.DeviceReads(""); n != 2 {
		t.Errorf("DeviceReads = %d, want 2 (one run, one ReadAt)", n)
	}
	if n := c.DeviceReads("L0/"); n != 2 {
		t.Errorf("DeviceReads(L0/) = %d, want 2", n)
	}
	if err := c.ReadBatch(ctx, batchOf(mem, "L0/c", "L0/b")); err != nil {
		t.Fatal(err)
	}
	if n := c.DeviceReads(""); n != 4 {
		t.Errorf("DeviceReads after a batch of two non-adjacent blobs = %d, want 4", n)
	}
	// A store without the capability is read blob by blob.
	plain := Counting(struct{ Store }{mem})
	if Adjacent(plain, "L0/a", "L0/b") {
		t.Error("Adjacent through a store without BatchReader = true")
	}
	if err := plain.ReadBatch(ctx, batchOf(mem, "L0/a", "L0/b")); err != nil {
		t.Fatal(err)
	}
	if n := plain.DeviceReads(""); n != 2 {
		t.Errorf("DeviceReads without BatchReader = %d, want 2", n)
	}
	short := batchOf(mem, "L0/a", "L0/b")
	short[1].Dst = make([]byte, 21)
	if err := plain.ReadBatch(ctx, short); err == nil || !strings.Contains(err.Error(), `"L0/b"`) {
		t.Errorf("fallback ReadBatch past the end of a blob: err = %v, want one naming L0/b", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := plain.ReadBatch(cancelled, batchOf(mem, "L0/a")); !errors.Is(err, context.Canceled) {
		t.Errorf("fallback ReadBatch with a cancelled context: err = %v", err)
	}
}
