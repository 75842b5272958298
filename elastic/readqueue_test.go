package elastic_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic"
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/leaktest"
	"github.com/wrxlabs/wrx/internal/profiletest"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// depthStore holds each shard read for a while and records the most in
// progress at once.
type depthStore struct {
	storage.Store
	mu       sync.Mutex
	now, top int
}

func (d *depthStore) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	if key != shardstore.WordKey {
		d.mu.Lock()
		d.now++
		d.top = max(d.top, d.now)
		d.mu.Unlock()
		time.Sleep(200 * time.Microsecond)
		defer func() {
			d.mu.Lock()
			d.now--
			d.mu.Unlock()
		}()
	}
	return d.Store.ReadAt(ctx, key, dst, off)
}

// TestRunnerStreamsAtProfiledDepth: the runner's executor keeps as many
// reads in flight as the device profile was measured with, and one at a
// time for a profile that records no depth.
func TestRunnerStreamsAtProfiledDepth(t *testing.T) {
	defer leaktest.Check(t)()
	ctx := context.Background()
	var ds *depthStore
	s, be, prof := profiledSynth(t, func(st storage.Store) storage.Store {
		ds = &depthStore{Store: st}
		return ds
	})
	const maxLen = 32
	// Room for four in-flight blobs of the largest and no preload set.
	foot := elastic.Footprint(s, be, prof.Geometry.Bits, maxLen, 0)
	budget := foot.Fixed() + 4*foot.Blob[len(foot.Blob)-1]
	ids := []int{2, 10, 11, 12, 13, 3}
	for _, q := range []int{0, 4} {
		p := *prof
		dev := *prof.Device
		dev.ReadQueue = q
		p.Device = &dev
		r, err := elastic.NewRunner(ctx, s, be, elastic.RunnerOptions{Target: time.Second, Budget: budget, MaxSeqLen: maxLen, Profiles: &p, BestEffort: true, Calibration: -1})
		if err != nil {
			t.Fatal(err)
		}
		ds.mu.Lock()
		ds.top = 0
		ds.mu.Unlock()
		_, info, err := r.Run(ctx, time.Time{}, ids, nil)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if info.Reads < 8 {
			t.Fatalf("profile depth %d: the request streamed %d blobs; the test needs more", q, info.Reads)
		}
		ds.mu.Lock()
		top := ds.top
		ds.mu.Unlock()
		want := max(q, 1)
		if r.Division().InFlight < want {
			t.Fatalf("profile depth %d: the budget leaves %d in-flight buffers", q, r.Division().InFlight)
		}
		if top != want {
			t.Errorf("profile depth %d: %d shard reads in progress at once, want %d", q, top, want)
		}
	}
}

// TestRunnerMergesPlannedReads: with the planner's MaxReadBytes, the runner
// plans merged reads and its executor reads them so: fewer storage reads
// than blobs, with the plan's blobs read in its order (the executor checks
// that), and a predicted latency no larger than the same request's plan
// without merging.
func TestRunnerMergesPlannedReads(t *testing.T) {
	defer leaktest.Check(t)()
	ctx := context.Background()
	s, be, prof := profiledSynth(t, nil)
	if !prof.Geometry.Contiguous {
		t.Fatal("a store converted now is not contiguous")
	}
	const maxLen = 32
	foot := elastic.Footprint(s, be, prof.Geometry.Bits, maxLen, 0)
	budget := foot.Fixed() + 8*foot.Blob[len(foot.Blob)-1]
	ids := []int{2, 10, 11, 12, 13, 3}
	var predicted [2]time.Duration
	for i, merge := range []int64{0, 1 << 20} {
		r, err := elastic.NewRunner(ctx, s, be, elastic.RunnerOptions{Target: time.Second, Budget: budget, MaxSeqLen: maxLen, Profiles: prof,
			Planner: plan.Options{MaxReadBytes: merge}, BestEffort: true, Calibration: -1})
		if err != nil {
			t.Fatal(err)
		}
		_, info, err := r.Run(ctx, time.Time{}, ids, nil)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if info.Reads < 8 {
			t.Fatalf("merge %d: the request streamed %d blobs; the test needs more", merge, info.Reads)
		}
		if merged := info.StorageReads < info.Reads; merged != (merge > 0) {
			t.Errorf("merge %d: %d blobs in %d storage reads", merge, info.Reads, info.StorageReads)
		}
		predicted[i] = info.Plan.ProfiledLatency
	}
	if predicted[1] > predicted[0] {
		t.Errorf("merged reads predicted %v, one read per blob %v", predicted[1], predicted[0])
	}
}

// profiledSynth opens a profiled synthetic store, its storage seen through
// wrap when not nil (closed with the test), with the backend the runner
// streams on and the store's profiles.
func profiledSynth(t *testing.T, wrap func(storage.Store) storage.Store) (*shardstore.Store, backend.Backend, *plan.Profiles) {
	t.Helper()
	ctx := context.Background()
	uri := "mem:" + t.Name()
	profiletest.Synth(t, uri)
	st, err := storage.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		st = wrap(st)
	}
	s, err := shardstore.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	be, err := pipeline.OpenBackend("native", 0)
	if err != nil {
		t.Fatal(err)
	}
	prof, err := profile.LoadProfiles(ctx, uri, s, be, storage.ThrottleConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return s, be, prof
}
