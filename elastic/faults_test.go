package elastic_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/elastic"
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/leaktest"
	"github.com/wrxlabs/wrx/internal/profiletest"
	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
	_ "github.com/wrxlabs/wrx/storage/flatfile"
)

// switched reads from faulty while on is set and from clean otherwise,
// so that a runner can be set up on a sound device that then turns flaky.
type switched struct {
	storage.Store // clean
	faulty        *storage.FaultyStore
	on            atomic.Bool
}

func (s *switched) pick() storage.Store {
	if s.on.Load() {
		return s.faulty
	}
	return s.Store
}

func (s *switched) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	return s.pick().ReadAt(ctx, key, dst, off)
}

func (s *switched) ReadAligned(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	return storage.ReadAligned(ctx, s.pick(), key, dst, off)
}

// TestStreamingUnderFaults runs 1,000 requests, four at a time, through a
// Runner whose flat-file store (direct IO) fails, returns short, corrupts
// or delays random reads of shards and word rows. Every request must
// return within its deadline either an error or exactly the logits its
// plan gives on a sound store; afterwards, on the sound device again, the
// preload buffer must be as it was and answer right, the heap must not
// have grown, and no goroutine may be left.
func TestStreamingUnderFaults(t *testing.T) {
	defer leaktest.Check(t)()
	const requests, workers = 1000, 4
	const deadline = 30 * time.Second // per request: far above any delay
	ctx := context.Background()
	uri := "file:" + filepath.Join(t.TempDir(), "store")
	profiletest.Synth(t, uri)
	st, err := storage.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	flaky := &switched{Store: st, faulty: storage.Faulty(st,
		// A request reads about 20 shard blobs and up to 100 word rows:
		// these rates fail about a third of the requests.
		storage.Fault{Op: storage.OpRead, Kind: storage.FaultError, Rate: 0.001, Seed: 1},
		storage.Fault{Op: storage.OpRead, Kind: storage.FaultCorrupt, At: 1 << 30, Rate: 0.001, Seed: 2},
		storage.Fault{Op: storage.OpRead, Kind: storage.FaultCorrupt, At: 7, Rate: 0.001, Seed: 3},
		storage.Fault{Op: storage.OpRead, Kind: storage.FaultShortRead, Rate: 0.001, Seed: 4},
		storage.Fault{Op: storage.OpRead, Kind: storage.FaultDelay, Delay: 2 * time.Millisecond, Rate: 0.02, Seed: 5},
	)}
	s, err := shardstore.Open(ctx, flaky)
	if err != nil {
		t.Fatal(err)
	}
	clean, err := shardstore.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	be, err := pipeline.OpenBackend("native", 0)
	if err != nil {
		t.Fatal(err)
	}
	prof, err := profile.LoadProfiles(ctx, uri, s, be, storage.ThrottleConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// BestEffort: this test is about what the requests compute, not about
	// deadlines, which the queue of a loaded machine would make them miss.
	const maxLen = 128                                                                // the inputs are up to 102 tokens
	budget := elastic.Footprint(s, be, prof.Geometry.Bits, maxLen, 0).Min() + 300_000 // some of it preloaded
	r, err := elastic.NewRunner(ctx, s, be, elastic.RunnerOptions{Target: 20 * time.Millisecond, Budget: budget, MaxSeqLen: maxLen, Profiles: prof, BestEffort: true})
	if err != nil {
		t.Fatal(err)
	}
	// The reference: the same plans on an executor over the sound store.
	ref, err := pipeline.NewExecutor(ctx, clean, be, pipeline.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ref.SetPreload(ctx, pipeline.PreloadKeys(r.Preload())); err != nil {
		t.Fatal(err)
	}
	preloadBytes := r.PreloadBytes()

	rng := rand.New(rand.NewPCG(3, 3))
	inputs := make([][]int, 40)
	for i := range inputs {
		ids := []int{2}
		for range 1 + rng.IntN(100) {
			ids = append(ids, 5+rng.IntN(storetest.SynthVocabSize-5))
		}
		inputs[i] = append(ids, 3)
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()

	flaky.on.Store(true)
	var errs, wrong, hangs, bad atomic.Int64
	var mu sync.Mutex
	kinds := map[string]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < requests; i += workers {
				ids := inputs[i%len(inputs)]
				rctx, cancel := context.WithTimeout(ctx, deadline)
				logits, info, err := r.Run(rctx, time.Time{}, ids, nil)
				cancel()
				switch {
				case errors.Is(err, context.DeadlineExceeded):
					hangs.Add(1)
					t.Errorf("request %d: no answer within %v", i, deadline)
				case err != nil:
					errs.Add(1)
					var kind string
					switch {
					case errors.Is(err, storage.ErrInjected):
						kind = "injected"
					case errors.Is(err, shardstore.ErrCorrupt):
						kind = "checksum"
					case errors.Is(err, io.ErrUnexpectedEOF):
						kind = "short"
					default:
						kind = "other"
						t.Errorf("request %d: unexpected error %v", i, err)
					}
					mu.Lock()
					kinds[kind]++
					mu.Unlock()
				default:
					want, _, err := ref.Run(ctx, info.Plan, ids, nil)
					if err != nil {
						bad.Add(1)
						t.Errorf("request %d: its plan on the sound store: %v", i, err)
					} else if !slices.Equal(logits, want) {
						wrong.Add(1)
						t.Errorf("request %d: logits %v, the sound store gives %v", i, logits, want)
					}
				}
			}
		})
	}
	wg.Wait()
	flaky.on.Store(false)
	fired := flaky.faulty.Fired()

	// The preload buffer survived: same size, and every request answers
	// right on the sound device again.
	if got := r.PreloadBytes(); got != preloadBytes {
		t.Errorf("preload buffer holds %d bytes after the faults, %d before", got, preloadBytes)
	}
	for i, ids := range inputs {
		logits, info, err := r.Run(ctx, time.Time{}, ids, nil)
		if err != nil {
			t.Fatalf("sound device again, input %d: %v", i, err)
		}
		want, _, err := ref.Run(ctx, info.Plan, ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(logits, want) {
			t.Errorf("sound device again, input %d: logits %v, want %v", i, logits, want)
		}
	}
	after := heap()
	// Streaming buffers are released with each request; what stays is
	// the preload buffer, which was allocated before the first reading.
	// Allow 1 MB for the runtime's own bookkeeping.
	if after > before+1<<20 {
		t.Errorf("heap grew from %d to %d bytes over %d requests", before, after, requests)
	}
	t.Logf("%d requests: %d errors %v, %d wrong answers, %d hangs, %d unrunnable; %d faults fired; heap %d → %d bytes",
		requests, errs.Load(), kinds, wrong.Load(), hangs.Load(), bad.Load(), fired, before, after)
	if errs.Load() == 0 || errs.Load() == requests {
		t.Errorf("%d of %d requests failed: the faults did not exercise both paths", errs.Load(), requests)
	}
}
