package pipeline

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/internal/leaktest"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// slowStore holds every shard read on the device for a while and records
// how many were in progress at once; it forwards BatchReader, so that the
// executor can merge reads over it.
type slowStore struct {
	storage.Store
	hold time.Duration

	mu             sync.Mutex
	now, top       int // shard reads
	rowNow, rowTop int // word row reads
}

func (s *slowStore) enter(key string) func() {
	now, top := &s.now, &s.top
	if key == shardstore.WordKey {
		now, top = &s.rowNow, &s.rowTop
	}
	s.mu.Lock()
	*now++
	*top = max(*top, *now)
	s.mu.Unlock()
	time.Sleep(s.hold)
	return func() {
		s.mu.Lock()
		*now--
		s.mu.Unlock()
	}
}

func (s *slowStore) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	defer s.enter(key)()
	return s.Store.ReadAt(ctx, key, dst, off)
}

func (s *slowStore) Adjacent(prev, next string) bool { return storage.Adjacent(s.Store, prev, next) }

func (s *slowStore) ReadBatch(ctx context.Context, reads []storage.BlobRead) error {
	defer s.enter(reads[0].Key)()
	return storage.ReadBatch(ctx, s.Store, reads)
}

// peak returns the most shard reads and word row reads seen in progress
// at once, and resets them.
func (s *slowStore) peak() (shards, rows int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	shards, rows = s.top, s.rowTop
	s.top, s.rowTop = 0, 0
	return shards, rows
}

// TestExecutorReadQueue: with up to ReadQueue reads in flight, the
// executor computes exactly what it computes reading one blob at a time
// (the same logits, bit for bit), reads every planned blob once, keeps
// several shard reads in progress at once, but never more than
// ReadQueue, reads word rows several at once, and still merges adjacent blobs when
// MaxReadBytes asks for it.
func TestExecutorReadQueue(t *testing.T) {
	defer leaktest.Check(t)()
	_, _, uri := testStore(t, "fixtures/tiny-bert", 2, 4, 8, 32)
	ctx := context.Background()
	be, err := backend.Open("native", backend.Config{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	slow := &slowStore{Store: st, hold: time.Millisecond}
	s, err := shardstore.Open(ctx, slow)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mixed := fixedPlan(t, s, [][]plan.ShardChoice{
		{{Head: 2, Bits: 8}, {Head: 0, Bits: 32}, {Head: 1, Bits: 2}, {Head: 3, Bits: 4}},
		{{Head: 3, Bits: 2}, {Head: 0, Bits: 8}},
		{{Head: 1, Bits: 32}, {Head: 0, Bits: 32}, {Head: 2, Bits: 32}, {Head: 3, Bits: 32}},
	})
	for _, p := range []struct {
		name string
		p    *plan.Plan
	}{{"mixed", mixed}, {"full 32", fullPlan(t, s, 32)}, {"full 4", fullPlan(t, s, 4)}} {
		ref, err := NewExecutor(ctx, s, be, ExecOptions{InFlight: 8})
		if err != nil {
			t.Fatal(err)
		}
		want, wst, err := ref.Run(ctx, p.p, testIDs, nil)
		ref.Close()
		if err != nil {
			t.Fatal(err)
		}
		// Word rows are read shardstore.RowReaders at a time whatever
		// the queue of shard reads.
		if top, rows := slow.peak(); top != 1 || rows < 2 || rows > shardstore.RowReaders {
			t.Errorf("%s: one read at a time had %d shard and %d row reads in progress at once; want 1 and 2 to %d", p.name, top, rows, shardstore.RowReaders)
		}
		for _, o := range []ExecOptions{
			{InFlight: 8, ReadQueue: 2},
			{InFlight: 8, ReadQueue: 4},
			{InFlight: 8, ReadQueue: 8},
			{InFlight: 3, ReadQueue: 8}, // lowered to InFlight
			{InFlight: 8, ReadQueue: 2, MaxReadBytes: 1 << 30},
			{InFlight: 8, ReadQueue: 4, MaxReadBytes: 1 << 30},
			{InFlight: 8, ReadQueue: 4, LoadAll: true},
		} {
			e, err := NewExecutor(ctx, s, be, o)
			if err != nil {
				t.Fatal(err)
			}
			// Twice: the second request reuses the first one's ring of reads.
			for range 2 {
				got, gst, err := e.Run(ctx, p.p, testIDs, nil)
				if err != nil {
					t.Fatalf("%s, %+v: %v", p.name, o, err)
				}
				if d := maxDiff(got, want); d != 0 || len(got) != len(want) {
					t.Errorf("%s, %+v: logits differ from one read at a time by %g", p.name, o, d)
				}
				if gst.Reads != wst.Reads || gst.IOBytes != wst.IOBytes {
					t.Errorf("%s, %+v: %d blobs, %d bytes; one at a time read %d, %d", p.name, o, gst.Reads, gst.IOBytes, wst.Reads, wst.IOBytes)
				}
				merged := o.MaxReadBytes > 0
				if merged != (gst.StorageReads < gst.Reads) || gst.StorageReads > gst.Reads {
					t.Errorf("%s, %+v: %d blobs in %d storage reads", p.name, o, gst.Reads, gst.StorageReads)
				}
				if gst.IOTime <= 0 || gst.IOTime > gst.Latency {
					t.Errorf("%s, %+v: IO time %v in a latency of %v", p.name, o, gst.IOTime, gst.Latency)
				}
				limit := min(o.ReadQueue, o.InFlight)
				top, rows := slow.peak()
				if top < 2 || top > limit {
					t.Errorf("%s, %+v: %d shard reads in progress at once, want 2 to %d", p.name, o, top, limit)
				}
				if rows < 2 || rows > shardstore.RowReaders {
					t.Errorf("%s, %+v: %d word row reads in progress at once, want 2 to %d", p.name, o, rows, shardstore.RowReaders)
				}
			}
			e.Close()
		}
	}
}

// TestExecutorReadQueueCachedRows: with some word rows preloaded, reading
// the others several at a time gives the logits of reading them one at a
// time.
func TestExecutorReadQueueCachedRows(t *testing.T) {
	_, s, _ := testStore(t, "fixtures/tiny-bert", 8)
	ctx := context.Background()
	be, err := backend.Open("native", backend.Config{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	ids := append(slices.Clone(testIDs), testIDs[3], testIDs[1]) // repeated tokens too
	var want []float32
	for _, q := range []int{1, 4} {
		e, err := NewExecutor(ctx, s, be, ExecOptions{InFlight: 4, ReadQueue: q})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.SetRows(ctx, ids[2:6]); err != nil {
			t.Fatal(err)
		}
		got, _, err := e.Run(ctx, fullPlan(t, s, 8), ids, nil)
		e.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = got
			continue
		}
		if d := maxDiff(got, want); d != 0 {
			t.Errorf("read queue %d: logits differ from one row at a time by %g", q, d)
		}
	}
}

// TestExecutorReadQueueFaults: with reads in flight together, a failed
// read names its blob, a stalled one gives way to cancellation, and
// neither leaves a goroutine behind.
func TestExecutorReadQueueFaults(t *testing.T) {
	defer leaktest.Check(t)()
	_, s3, uri := testStore(t, "fixtures/tiny-bert", 3)
	be, err := backend.Open("native", backend.Config{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bad := shardstore.Key{Layer: 1, Head: 2, Part: shardstore.FFN, Fidelity: quant.Fidelity(3)}
	open := func(t *testing.T, st storage.Store, o ExecOptions) *Executor {
		s, err := shardstore.Open(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewExecutor(ctx, s, be, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close(); s.Close() })
		return e
	}
	plain := func(t *testing.T) storage.Store {
		st, err := storage.Open(ctx, uri)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	t.Run("read error names the blob", func(t *testing.T) {
		for _, q := range []int{2, 4} {
			f := storage.Faulty(plain(t), storage.Fault{Op: storage.OpRead, Key: bad.String(), Kind: storage.FaultError})
			e := open(t, f, ExecOptions{InFlight: 4, ReadQueue: q})
			_, _, err := e.Run(ctx, fullPlan(t, s3, 3), testIDs, nil)
			if !errors.Is(err, storage.ErrInjected) || !strings.Contains(err.Error(), bad.Describe()) {
				t.Fatalf("queue %d: err = %v, want the injected failure naming %s", q, err, bad.Describe())
			}
		}
	})
	t.Run("corrupt blob in a merged read", func(t *testing.T) {
		corrupt := shardstore.Key{Layer: 1, Head: 2, Part: shardstore.Attention, Fidelity: quant.Fidelity(3)}
		e := open(t, &batchFaultStore{Store: plain(t), key: corrupt.String()}, ExecOptions{InFlight: 8, ReadQueue: 2, MaxReadBytes: 1 << 30})
		_, _, err := e.Run(ctx, fullPlan(t, s3, 3), testIDs, nil)
		if !errors.Is(err, shardstore.ErrCorrupt) || !strings.Contains(err.Error(), corrupt.Describe()) {
			t.Fatalf("err = %v, want ErrCorrupt naming %s", err, corrupt.Describe())
		}
	})
	t.Run("cancel while a read stalls", func(t *testing.T) {
		// The blob of layer 1 stalls; those before it are read, folded in
		// and their buffers reused meanwhile, with reads after it in flight.
		f := storage.Faulty(plain(t), storage.Fault{Op: storage.OpRead, Key: bad.String(), Kind: storage.FaultDelay, Delay: time.Hour})
		e := open(t, f, ExecOptions{InFlight: 8, ReadQueue: 4})
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := e.Run(cctx, fullPlan(t, s3, 3), testIDs, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Errorf("the cancelled request took %v", el)
		}
		if f.Fired() != 1 {
			t.Errorf("the stall fired %d times, want once", f.Fired())
		}
	})
}
