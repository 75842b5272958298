package pipeline

import (
	"context"
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/backend"
	_ "github.com/wrxlabs/wrx/backend/native"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// testStore converts a model of a fixture's shape and random weights
// into a fresh in-memory store: these tests compare the executor with the
// dense model of the same weights, which need not be trained.
var testStore = storetest.SynthFixture

var testIDs = []int{101, 2009, 1005, 1055, 1037, 11951, 1998, 2411, 12473, 4990, 1012, 102}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// fullPlan is the plan that streams every shard of s at bits.
func fullPlan(t *testing.T, s *shardstore.Store, bits quant.Fidelity) *plan.Plan {
	t.Helper()
	g, err := profile.GeometryFromManifest(s.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Full(g, bits)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fixedPlan is the plan that streams layers[l] in layer l.
func fixedPlan(t *testing.T, s *shardstore.Store, layers [][]plan.ShardChoice) *plan.Plan {
	t.Helper()
	g, err := profile.GeometryFromManifest(s.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Fixed(g, layers)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ioKeys lists the store keys of p.IO, in order.
func ioKeys(p *plan.Plan) []shardstore.Key {
	var keys []shardstore.Key
	for _, r := range p.IO {
		keys = append(keys, Key(r.Layer, r.Head, r.Part, r.Bits))
	}
	return keys
}

// subsetModel is m with only the shards p runs, for an independent
// computation through Model.Forward (which runs every layer).
func subsetModel(m *bert.Model, p *plan.Plan) *bert.Model {
	out := *m
	out.Layers = make([]bert.Layer, len(m.Layers))
	for l := range m.Layers {
		out.Layers[l] = bert.Layer{Resident: m.Layers[l].Resident,
			Attention: make([]*bert.AttentionShard, m.Config.Heads), FFN: make([]*bert.FFNShard, m.Config.Heads)}
		if l >= len(p.Layers) {
			continue
		}
		for _, c := range p.Layers[l].Shards {
			out.Layers[l].Attention[c.Head] = m.Layers[l].Attention[c.Head]
			out.Layers[l].FFN[c.Head] = m.Layers[l].FFN[c.Head]
		}
	}
	return &out
}

func TestExecutorMatchesDenseModel(t *testing.T) {
	m, s, _ := testStore(t, "fixtures/tiny-bert", 4, 32)
	be, _ := backend.Get("native")
	ctx := context.Background()
	partial := fixedPlan(t, s, [][]plan.ShardChoice{{{Head: 2, Bits: 32}, {Head: 0, Bits: 32}}, {}, {{Head: 3, Bits: 32}}})
	full := fullPlan(t, s, 32)
	cases := []struct {
		name  string
		sched *plan.Plan
		opts  ExecOptions
	}{
		{"uniform fp32", full, ExecOptions{}},
		{"uniform fp32 one slot", full, ExecOptions{InFlight: 1}},
		{"load then exec", full, ExecOptions{LoadAll: true}},
		{"partial", partial, ExecOptions{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := NewExecutor(ctx, s, be, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, st, err := e.Run(ctx, c.sched, testIDs, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := subsetModel(m, c.sched).Forward(ctx, be, testIDs, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(got, want); d > 1e-6 {
				t.Errorf("logits differ from the dense model by %.2e", d)
			}
			if want := len(c.sched.IO); st.Reads != want {
				t.Errorf("streamed %d blobs, want %d", st.Reads, want)
			}
			slots := c.opts.InFlight
			if slots == 0 {
				slots = plan.DefaultInFlight
			}
			if c.opts.LoadAll {
				slots = st.Reads
			}
			var largest int64
			for _, k := range ioKeys(c.sched) {
				largest = max(largest, int64(s.BufferSize(k)))
			}
			if bound := st.ResidentBytes + st.PreloadBytes + int64(slots)*largest; st.PeakWeightBytes > bound {
				t.Errorf("peak weight bytes %d above the documented bound %d", st.PeakWeightBytes, bound)
			}
		})
	}
}

func TestExecutorPreload(t *testing.T) {
	_, s, _ := testStore(t, "fixtures/tiny-distilbert", 2, 8)
	be, _ := backend.Get("native")
	ctx := context.Background()
	e, err := NewExecutor(ctx, s, be, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sched := fullPlan(t, s, 8)
	cold, st0, err := e.Run(ctx, sched, testIDs, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The first two shards of layer 0, preloaded; the plan reads the rest.
	pre := []shardstore.Key{Key(0, 0, plan.Attention, 8), Key(0, 1, plan.Attention, 8), Key(0, 0, plan.FFN, 8), Key(0, 1, plan.FFN, 8)}
	if err := e.SetPreload(ctx, pre); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Run(ctx, sched, testIDs, nil); err != nil {
		t.Fatalf("a plan that reads preloaded shards again: %v", err)
	}
	warmPlan := *sched
	warmPlan.Layers = slices.Clone(sched.Layers)
	warmPlan.Layers[0].Shards = slices.Clone(sched.Layers[0].Shards)
	for i := range 2 {
		warmPlan.Layers[0].Shards[i].Preloaded = true
	}
	warmPlan.IO = slices.DeleteFunc(slices.Clone(sched.IO), func(r plan.BlobRead) bool { return r.Layer == 0 && r.Head < 2 })
	warm, st1, err := e.Run(ctx, &warmPlan, testIDs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(cold, warm); d != 0 {
		t.Errorf("preloaded run differs by %.2e", d)
	}
	if st1.Reads != st0.Reads-len(pre) || st1.PreloadBytes == 0 {
		t.Errorf("with %d preloaded: %d reads (cold %d), preload %d bytes", len(pre), st1.Reads, st0.Reads, st1.PreloadBytes)
	}
	limited, err := NewExecutor(ctx, s, be, ExecOptions{PreloadLimit: st1.PreloadBytes - e.PreloadHeldBytes() - 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := limited.SetPreload(ctx, pre); err == nil || !strings.Contains(err.Error(), "budget") {
		t.Errorf("a preload set over the limit: err = %v", err)
	}
	// Room for the blobs but not for what they hold decoded: refused as
	// soon as the decoded shards cross the limit, nothing left loaded.
	blobs := st1.PreloadBytes - e.PreloadHeldBytes()
	if e.PreloadHeldBytes() <= 0 {
		t.Fatalf("8-bit shards hold %d bytes decoded; the test needs more", e.PreloadHeldBytes())
	}
	held, err := NewExecutor(ctx, s, be, ExecOptions{PreloadLimit: blobs + e.PreloadHeldBytes() - 1})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	var over *HeldOverError
	if err := held.SetPreload(ctx, pre); !errors.As(err, &over) || over.Held <= 0 || over.HeldBlobs <= 0 || held.PreloadBytes() != 0 {
		t.Errorf("a preload set over the limit decoded: err = %v, %d bytes left loaded", err, held.PreloadBytes())
	}
	if err := held.SetPreload(ctx, pre[:1]); err != nil {
		t.Errorf("a smaller set within the limit decoded: %v", err)
	}
	if err := e.SetPreload(ctx, nil); err != nil || e.PreloadBytes() != 0 {
		t.Errorf("emptying the preload buffer: %v, %d bytes left", err, e.PreloadBytes())
	}
}

// failingStore fails or stalls reads of one key.
type failingStore struct {
	storage.Store
	key   string
	stall bool
	reads atomic.Int32
}

func (f *failingStore) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	f.reads.Add(1)
	if key == f.key {
		if f.stall {
			<-ctx.Done()
			return 0, ctx.Err()
		}
		return 0, errors.New("injected read failure")
	}
	return f.Store.ReadAt(ctx, key, dst, off)
}

func settledGoroutines(t *testing.T, before int) {
	t.Helper()
	for range 100 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
}

func TestExecutorFaultsAndCancellation(t *testing.T) {
	_, s3, uri := testStore(t, "fixtures/tiny-bert", 3)
	be, _ := backend.Get("native")
	ctx := context.Background()
	bad := shardstore.Key{Layer: 1, Head: 2, Part: shardstore.FFN, Fidelity: 3}
	open := func(stall bool) *Executor {
		st, err := storage.Open(ctx, uri)
		if err != nil {
			t.Fatal(err)
		}
		s, err := shardstore.Open(ctx, &failingStore{Store: st, key: bad.String(), stall: stall})
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewExecutor(ctx, s, be, ExecOptions{InFlight: 2})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	before := runtime.NumGoroutine()
	t.Run("read error names the shard", func(t *testing.T) {
		_, _, err := open(false).Run(ctx, fullPlan(t, s3, 3), testIDs, nil)
		if err == nil || !strings.Contains(err.Error(), bad.Describe()) || !strings.Contains(err.Error(), "injected") {
			t.Fatalf("err = %v, want the injected failure naming %s", err, bad.Describe())
		}
	})
	t.Run("cancel while IO stalls", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, _, err := open(true).Run(cctx, fullPlan(t, s3, 3), testIDs, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
	})
	t.Run("cancelled before start", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := open(false).Run(cctx, fullPlan(t, s3, 3), testIDs, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("bad plan", func(t *testing.T) {
		p := &plan.Plan{Layers: []plan.LayerPlan{{Layer: 0, Shards: []plan.ShardChoice{{Head: 9, Bits: 3}}}}}
		if _, _, err := open(false).Run(ctx, p, testIDs, nil); err == nil || !strings.Contains(err.Error(), "head 9") {
			t.Fatalf("err = %v", err)
		}
		p = &plan.Plan{Layers: []plan.LayerPlan{{Layer: 0, Shards: []plan.ShardChoice{{Head: 0, Bits: 5}}}},
			IO: []plan.BlobRead{{Layer: 0, Head: 0, Part: plan.Attention, Bits: 5}, {Layer: 0, Head: 0, Part: plan.FFN, Bits: 5}}}
		if _, _, err := open(false).Run(ctx, p, testIDs, nil); err == nil || !strings.Contains(err.Error(), "at 5 bits") {
			t.Fatalf("err = %v", err)
		}
	})
	settledGoroutines(t, before)
}

// TestExecutorReadsExactlyPlanIO proves that Plan.IO is the executor's one
// source of read order: a counting store sees the plan's reads, in order,
// and nothing else; a plan whose IO disagrees with its layers reads nothing.
func TestExecutorReadsExactlyPlanIO(t *testing.T) {
	_, _, uri := testStore(t, "fixtures/tiny-bert", 2, 8)
	ctx := context.Background()
	be, _ := backend.Get("native")
	counting, s := countedStore(t, uri)
	e, err := NewExecutor(ctx, s, be, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Heads out of order and mixed fidelities: nothing canonical to fall
	// back on.
	p := fixedPlan(t, s, [][]plan.ShardChoice{{{Head: 3, Bits: 2}, {Head: 0, Bits: 8}}, {{Head: 1, Bits: 8}}, {}})
	counting.Reset()
	if _, _, err := e.Run(ctx, p, testIDs, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range counting.Reads() {
		if r.Key != shardstore.WordKey {
			got = append(got, r.Key)
		}
	}
	var want []string
	for _, k := range ioKeys(p) {
		want = append(want, k.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("shard reads differ from Plan.IO (-want +got):\n%s", diff)
	}

	swapped := *p
	swapped.IO = slices.Clone(p.IO)
	swapped.IO[0], swapped.IO[1] = swapped.IO[1], swapped.IO[0]
	counting.Reset()
	_, _, err = e.Run(ctx, &swapped, testIDs, nil)
	if err == nil || !strings.Contains(err.Error(), "compute needs") {
		t.Errorf("IO out of compute order: err = %v", err)
	}
	if n := len(counting.Reads()); n != 0 {
		t.Errorf("a refused plan read %d blobs", n)
	}
}

func TestComputeThreadsLeavesACore(t *testing.T) {
	if n := ComputeThreads(); n < 1 || n > max(1, runtime.GOMAXPROCS(0)-1) {
		t.Errorf("ComputeThreads() = %d with GOMAXPROCS %d", n, runtime.GOMAXPROCS(0))
	}
}

// TestExecutorSteadyStateAllocatesLittle runs the same plan repeatedly,
// at 32 and at 4 bits, and at 4 bits with adjacent blobs merged into
// reads of several: after the first request the blob buffers, the
// activations, the decoded shards and the plan bookkeeping are reused, so
// what a request allocates is a few small values, and does not grow with
// the bytes it streams, which differ about eightfold.
func TestExecutorSteadyStateAllocatesLittle(t *testing.T) {
	_, s, _ := testStore(t, "fixtures/tiny-bert", 4, 32)
	be, err := backend.Open("native", backend.Config{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	perRequest := func(bits quant.Fidelity, opts ExecOptions) (allocs float64, bytes, streamed int64) {
		e, err := NewExecutor(ctx, s, be, opts)
		if err != nil {
			t.Fatal(err)
		}
		p := fullPlan(t, s, bits)
		var st RunStats
		run := func() {
			if _, st, err = e.Run(ctx, p, testIDs, nil); err != nil {
				t.Fatal(err)
			}
		}
		run()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const n = 20
		allocs = testing.AllocsPerRun(n, run)
		runtime.ReadMemStats(&after)
		return allocs, int64(after.TotalAlloc-before.TotalAlloc) / (n + 1), st.IOBytes
	}
	a32, b32, io32 := perRequest(32, ExecOptions{})
	a4, b4, io4 := perRequest(4, ExecOptions{})
	// Merged reads against single ones with as many blobs in flight
	// (more in flight take more bookkeeping): before merged reads decoded
	// into slot space, 447 allocations and 92 KB against 10 and 1.1 KB.
	a8, b8, _ := perRequest(4, ExecOptions{InFlight: 8})
	am, bm, _ := perRequest(4, ExecOptions{MaxReadBytes: 1 << 30, InFlight: 8})
	t.Logf("per request: %.0f allocations, %d bytes at 32 bits (%d streamed); %.0f, %d at 4 bits (%d streamed); 8 in flight: %.0f, %d, and %.0f, %d with merged reads",
		a32, b32, io32, a4, b4, io4, a8, b8, am, bm)
	if io32 < 4*io4 {
		t.Fatalf("streamed %d bytes at 32 bits, %d at 4: the comparison needs a large difference", io32, io4)
	}
	if float64(b32) > 1.25*float64(b4) {
		t.Errorf("a request allocates %d bytes at 32 bits and %d at 4: allocation grows with the streamed bytes", b32, b4)
	}
	// Measured: 10 allocations, about 650 bytes (the request's context,
	// the IO goroutine, the logits); before the executor kept its
	// bookkeeping and channels and the store its key names, 116 and 4.8 KB.
	const maxAllocs, maxBytes = 10, 1024
	if raceEnabled {
		t.Log("race detector on: the absolute bound is not checked")
		return
	}
	if am > a8+2 || float64(bm) > 1.25*float64(b8) {
		t.Errorf("a request with merged reads allocates %.0f times, %d bytes; without, %.0f and %d", am, bm, a8, b8)
	}
	for _, m := range []struct {
		allocs float64
		bytes  int64
	}{{a32, b32}, {a4, b4}} {
		if m.allocs > maxAllocs || m.bytes > maxBytes {
			t.Errorf("a request allocates %.0f times, %d bytes; want at most %d, %d", m.allocs, m.bytes, maxAllocs, maxBytes)
		}
	}
}

// countedStore opens the store at uri through a storage.Counting wrapper.
func countedStore(t *testing.T, uri string) (*storage.CountingStore, *shardstore.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	counting := storage.Counting(st)
	s, err := shardstore.Open(ctx, counting)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return counting, s
}

// TestExecutorTimesIOAndCompute runs a plan over a device of 2 ms per
// read, one at a time: IOTime counts every read (the word rows and the blobs), at least
// 2 ms each and no more than the latency, and ComputeTime is what is left
// of the latency once the waits for IO and the row reads are taken out.
func TestExecutorTimesIOAndCompute(t *testing.T) {
	_, _, uri := testStore(t, "fixtures/tiny-bert", 2, 8)
	ctx := context.Background()
	be, _ := backend.Get("native")
	const perRead = 2 * time.Millisecond
	// A serial device: the word rows, read several at once, still take a
	// whole latency each.
	s, err := shardstore.OpenURIWith(ctx, uri, shardstore.OpenOptions{Throttle: storage.ThrottleConfig{Latency: perRead, Serial: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, err := NewExecutor(ctx, s, be, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := fixedPlan(t, s, [][]plan.ShardChoice{{{Head: 3, Bits: 2}, {Head: 0, Bits: 8}}, {{Head: 1, Bits: 8}}, {}})
	_, st, err := e.Run(ctx, p, testIDs, nil)
	if err != nil {
		t.Fatal(err)
	}
	reads := len(p.IO) + len(testIDs) // the test ids are distinct
	if st.IOTime < time.Duration(reads)*perRead || st.IOTime > st.Latency {
		t.Errorf("IO time %v for %d reads of at least %v in a latency of %v", st.IOTime, reads, perRead, st.Latency)
	}
	if st.ComputeTime <= 0 || st.ComputeTime > st.Latency-st.ComputeWait-time.Duration(len(testIDs))*perRead {
		t.Errorf("compute time %v: latency %v, compute waited %v, %d row reads of at least %v", st.ComputeTime, st.Latency, st.ComputeWait, len(testIDs), perRead)
	}
	t.Logf("latency %v: IO %v, compute %v, compute waited %v", st.Latency, st.IOTime, st.ComputeTime, st.ComputeWait)
}
