package pipeline

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// shardRuns groups the shard reads a counting store recorded (word rows
// left out) by the storage read that brought them in.
func shardRuns(c *storage.CountingStore) (keys []string, runs []int) {
	last := -1
	for _, r := range c.Reads() {
		if r.Key == shardstore.WordKey {
			continue
		}
		keys = append(keys, r.Key)
		if r.Run == 0 || r.Run != last {
			runs = append(runs, 0)
		}
		runs[len(runs)-1]++
		last = r.Run
	}
	return keys, runs
}

// TestExecutorMergesAdjacentReads: with MaxReadBytes, the executor still
// reads exactly Plan.IO, in order, and computes what it computes without,
// but reads each run of planned blobs that lie back to back in storage
// with one read, up to the byte cap and to InFlight blobs.
func TestExecutorMergesAdjacentReads(t *testing.T) {
	_, _, uri := testStore(t, "fixtures/tiny-bert", 2, 8)
	ctx := context.Background()
	be, _ := backend.Get("native")
	counting, s := countedStore(t, uri)
	// Convert lays out a layer by fidelity, then part, then head: runs of
	// heads at one fidelity are adjacent, and so are a layer's last
	// attention part and first FFN part at one fidelity.
	mixed := fixedPlan(t, s, [][]plan.ShardChoice{
		{{Head: 0, Bits: 8}, {Head: 1, Bits: 8}, {Head: 2, Bits: 2}, {Head: 3, Bits: 8}},
		{{Head: 3, Bits: 2}, {Head: 0, Bits: 8}},
		{},
	})
	layerBytes := int64(0)
	for _, k := range ioKeys(fullPlan(t, s, 8))[:2*s.Config().Heads] {
		layerBytes += int64(s.BufferSize(k))
	}
	for _, tc := range []struct {
		name string
		p    *plan.Plan
		opts ExecOptions
		runs []int // blobs per storage read
	}{
		{"mixed", mixed, ExecOptions{MaxReadBytes: 1 << 30}, []int{2, 1, 3, 1, 1, 1, 1, 1, 1}},
		{"mixed, two in flight", mixed, ExecOptions{MaxReadBytes: 1 << 30, InFlight: 2}, []int{2, 1, 2, 1, 1, 1, 1, 1, 1, 1}},
		{"mixed, one blob per read", mixed, ExecOptions{MaxReadBytes: 1}, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"layerwise", fullPlan(t, s, 8), ExecOptions{MaxReadBytes: layerBytes, InFlight: 16}, []int{8, 8, 8}},
		{"load all", fullPlan(t, s, 2), ExecOptions{MaxReadBytes: 1 << 30, LoadAll: true}, []int{8, 8, 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, err := NewExecutor(ctx, s, be, ExecOptions{InFlight: tc.opts.InFlight, LoadAll: tc.opts.LoadAll})
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			want, _, err := plain.Run(ctx, tc.p, testIDs, nil)
			if err != nil {
				t.Fatal(err)
			}
			e, err := NewExecutor(ctx, s, be, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			counting.Reset()
			got, st, err := e.Run(ctx, tc.p, testIDs, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(got, want); d != 0 {
				t.Errorf("logits differ from the executor without merged reads by %g", d)
			}
			keys, runs := shardRuns(counting)
			var wantKeys []string
			for _, k := range ioKeys(tc.p) {
				wantKeys = append(wantKeys, k.String())
			}
			if diff := cmp.Diff(wantKeys, keys); diff != "" {
				t.Errorf("shard reads differ from Plan.IO (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.runs, runs); diff != "" {
				t.Errorf("blobs per storage read (-want +got):\n%s", diff)
			}
			if st.Reads != len(wantKeys) || st.StorageReads != len(tc.runs) {
				t.Errorf("RunStats: %d blobs in %d storage reads, want %d in %d", st.Reads, st.StorageReads, len(wantKeys), len(tc.runs))
			}
		})
	}
}

// batchFaultStore forwards BatchReader and damages or stalls the blob
// under key inside a batch.
type batchFaultStore struct {
	storage.Store
	key     string
	stall   bool
	stalled chan struct{} // closed when a read stalls
}

func (f *batchFaultStore) Adjacent(prev, next string) bool {
	return storage.Adjacent(f.Store, prev, next)
}

func (f *batchFaultStore) ReadBatch(ctx context.Context, reads []storage.BlobRead) error {
	for _, r := range reads {
		if r.Key == f.key && f.stall {
			close(f.stalled)
			<-ctx.Done()
			return ctx.Err()
		}
	}
	if err := storage.ReadBatch(ctx, f.Store, reads); err != nil {
		return err
	}
	for _, r := range reads {
		if r.Key == f.key {
			r.Dst[len(r.Dst)/2] ^= 1
		}
	}
	return nil
}

func TestExecutorMergedReadFaults(t *testing.T) {
	_, s3, uri := testStore(t, "fixtures/tiny-bert", 3)
	be, _ := backend.Get("native")
	ctx := context.Background()
	bad := shardstore.Key{Layer: 1, Head: 2, Part: shardstore.Attention, Fidelity: quant.Fidelity(3)}
	stalled := make(chan struct{})
	open := func(stall bool) (*Executor, *storage.CountingStore) {
		st, err := storage.Open(ctx, uri)
		if err != nil {
			t.Fatal(err)
		}
		c := storage.Counting(&batchFaultStore{Store: st, key: bad.String(), stall: stall, stalled: stalled})
		s, err := shardstore.Open(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewExecutor(ctx, s, be, ExecOptions{InFlight: 8, MaxReadBytes: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close(); s.Close() })
		return e, c
	}
	before := runtime.NumGoroutine()
	t.Run("corrupt blob in a merged read names it", func(t *testing.T) {
		e, c := open(false)
		c.Reset()
		_, _, err := e.Run(ctx, fullPlan(t, s3, 3), testIDs, nil)
		if !errors.Is(err, shardstore.ErrCorrupt) || !strings.Contains(err.Error(), bad.Describe()) {
			t.Fatalf("err = %v, want ErrCorrupt naming %s", err, bad.Describe())
		}
		_, runs := shardRuns(c)
		if len(runs) != 2 || runs[1] != 8 {
			t.Errorf("blobs per storage read %v, want layer 0 and then layer 1 in one read", runs)
		}
	})
	t.Run("cancel while a merged read stalls", func(t *testing.T) {
		e, _ := open(true)
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, _, err := e.Run(cctx, fullPlan(t, s3, 3), testIDs, nil)
			done <- err
		}()
		<-stalled // the read of layer 1, merged, waits on the device
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("cancelled before start", func(t *testing.T) {
		e, _ := open(false)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := e.Run(cctx, fullPlan(t, s3, 3), testIDs, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	settledGoroutines(t, before)
}
