package elastic

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/backend"
	_ "github.com/wrxlabs/wrx/backend/native"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// testStore converts a fixture model into a fresh in-memory store.
func testStore(t *testing.T, rel string, fids ...quant.Fidelity) (*bert.Model, *shardstore.Store, string) {
	t.Helper()
	dir := shared.Path(t, filepath.FromSlash(rel))
	m, err := bert.Load(dir, bert.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := bert.LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	uri := "mem:" + t.Name()
	t.Cleanup(func() { storage.DeleteMem(t.Name()) })
	if err := shardstore.Convert(context.Background(), uri, m, tok, shardstore.ConvertOptions{Fidelities: fids}); err != nil {
		t.Fatal(err)
	}
	s, err := shardstore.OpenURI(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s, uri
}

var testIDs = []int{101, 2009, 1005, 1055, 1037, 11951, 1998, 2411, 12473, 4990, 1012, 102}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// subsetModel is m with only the shards sched runs, for an independent
// computation through Model.Forward (which runs every layer).
func subsetModel(m *bert.Model, sched *Schedule) *bert.Model {
	out := *m
	out.Layers = make([]bert.Layer, len(m.Layers))
	for l := range m.Layers {
		out.Layers[l] = bert.Layer{Resident: m.Layers[l].Resident,
			Attention: make([]*bert.AttentionShard, m.Config.Heads), FFN: make([]*bert.FFNShard, m.Config.Heads)}
		for _, c := range sched.Layers[l] {
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
	partial := &Schedule{Layers: [][]Choice{{{Head: 2, Fidelity: 32}, {Head: 0, Fidelity: 32}}, {}, {{Head: 3, Fidelity: 32}}}}
	cases := []struct {
		name  string
		sched *Schedule
		opts  ExecOptions
	}{
		{"uniform fp32", Uniform(m.Config, 32), ExecOptions{}},
		{"uniform fp32 one slot", Uniform(m.Config, 32), ExecOptions{InFlight: 1}},
		{"load then exec", Uniform(m.Config, 32), ExecOptions{LoadAll: true}},
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
			if want := len(c.sched.Keys()); st.Reads != want {
				t.Errorf("streamed %d blobs, want %d", st.Reads, want)
			}
			slots := c.opts.InFlight
			if slots == 0 {
				slots = DefaultInFlight
			}
			if c.opts.LoadAll {
				slots = st.Reads
			}
			var largest int64
			for _, k := range c.sched.Keys() {
				largest = max(largest, int64(s.BufferSize(k)))
			}
			if bound := st.ResidentBytes + st.PreloadBytes + int64(slots)*largest; st.PeakWeightBytes > bound {
				t.Errorf("peak weight bytes %d above the documented bound %d", st.PeakWeightBytes, bound)
			}
		})
	}
}

func TestExecutorPreload(t *testing.T) {
	m, s, _ := testStore(t, "fixtures/tiny-distilbert", 2, 8)
	be, _ := backend.Get("native")
	ctx := context.Background()
	e, err := NewExecutor(ctx, s, be, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sched := Uniform(m.Config, 8)
	cold, st0, err := e.Run(ctx, sched, testIDs, nil)
	if err != nil {
		t.Fatal(err)
	}
	pre := sched.Keys()[:5]
	if err := e.SetPreload(ctx, pre); err != nil {
		t.Fatal(err)
	}
	warm, st1, err := e.Run(ctx, sched, testIDs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(cold, warm); d != 0 {
		t.Errorf("preloaded run differs by %.2e", d)
	}
	if st1.Reads != st0.Reads-len(pre) || st1.PreloadBytes == 0 {
		t.Errorf("with %d preloaded: %d reads (cold %d), preload %d bytes", len(pre), st1.Reads, st0.Reads, st1.PreloadBytes)
	}
	limited, err := NewExecutor(ctx, s, be, ExecOptions{PreloadLimit: st1.PreloadBytes - 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := limited.SetPreload(ctx, pre); err == nil || !strings.Contains(err.Error(), "budget") {
		t.Errorf("a preload set over the limit: err = %v", err)
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
	m, _, uri := testStore(t, "fixtures/tiny-bert", 3)
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
		_, _, err := open(false).Run(ctx, Uniform(m.Config, 3), testIDs, nil)
		if err == nil || !strings.Contains(err.Error(), bad.Describe()) || !strings.Contains(err.Error(), "injected") {
			t.Fatalf("err = %v, want the injected failure naming %s", err, bad.Describe())
		}
	})
	t.Run("cancel while IO stalls", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, _, err := open(true).Run(cctx, Uniform(m.Config, 3), testIDs, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
	})
	t.Run("cancelled before start", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := open(false).Run(cctx, Uniform(m.Config, 3), testIDs, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("bad schedule", func(t *testing.T) {
		s := &Schedule{Layers: [][]Choice{{{Head: 9, Fidelity: 3}}}}
		if _, _, err := open(false).Run(ctx, s, testIDs, nil); err == nil || !strings.Contains(err.Error(), "head 9") {
			t.Fatalf("err = %v", err)
		}
		s = &Schedule{Layers: [][]Choice{{{Head: 0, Fidelity: 5}}}}
		if _, _, err := open(false).Run(ctx, s, testIDs, nil); err == nil || !strings.Contains(err.Error(), "at 5 bits") {
			t.Fatalf("err = %v", err)
		}
	})
	settledGoroutines(t, before)
}
