package elastic

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

func TestProfileWordsCountsRequestsNotOccurrences(t *testing.T) {
	p, err := ProfileWords("test", [][]int{{101, 7, 7, 5, 102}, {101, 5, 102}, {101, 9, 102}})
	if err != nil {
		t.Fatal(err)
	}
	want := []WordCount{{101, 3}, {102, 3}, {5, 2}, {7, 1}, {9, 1}}
	if diff := cmp.Diff(want, p.Top); diff != "" || p.Requests != 3 {
		t.Errorf("requests %d, top (-want +got):\n%s", p.Requests, diff)
	}
	if err := p.Validate(10); err == nil || !strings.Contains(err.Error(), "token id 101") {
		t.Errorf("ids beyond a vocabulary of 10: err = %v", err)
	}
	// Rows of 100 bytes: 250 bytes hold the two most frequent; a share
	// floor above 1/3 leaves out the tokens of one request in three.
	if got := p.HotRows(250, 100); !cmp.Equal(got, []int{101, 102}) {
		t.Errorf("HotRows(250, 100) = %v, want [101 102]", got)
	}
	if got := p.HotRows(1000, 100); !cmp.Equal(got, []int{5, 7, 9, 101, 102}) {
		t.Errorf("HotRows(1000, 100) = %v, want all five", got)
	}
	if got := p.HotRows(-1, 100); got != nil {
		t.Errorf("HotRows(-1, 100) = %v, want none", got)
	}
	if _, err := ProfileWords("none", nil); err == nil {
		t.Error("a profile of no requests was accepted")
	}
	for name, bad := range map[string]*WordProfile{
		"unsorted":  {Requests: 2, Top: []WordCount{{1, 1}, {2, 2}}},
		"repeated":  {Requests: 2, Top: []WordCount{{1, 2}, {1, 1}}},
		"too many":  {Requests: 2, Top: []WordCount{{1, 3}}},
		"no counts": {Requests: 0},
	} {
		if err := bad.Validate(0); err == nil {
			t.Errorf("%s profile was accepted", name)
		}
	}
}

func TestExecutorPreloadedRows(t *testing.T) {
	m, _, uri := testStore(t, "fixtures/tiny-bert", 8)
	ctx := context.Background()
	be, _ := backend.Get("native")
	st, err := storage.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	counting := storage.Counting(st)
	cs, err := shardstore.Open(ctx, counting)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	sched := Uniform(m.Config, 8)
	e, err := NewExecutor(ctx, cs, be, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cold, _, err := e.Run(ctx, sched, testIDs, nil)
	if err != nil {
		t.Fatal(err)
	}
	hot := []int{testIDs[0], testIDs[3], testIDs[len(testIDs)-1], 5}
	if err := e.SetRows(ctx, hot); err != nil {
		t.Fatal(err)
	}
	if got, want := e.CachedRows(append(testIDs, testIDs[1])), 4; got != want {
		t.Errorf("CachedRows = %d, want %d (3 preloaded + 1 repeat)", got, want)
	}
	counting.Reset()
	warm, stats, err := e.Run(ctx, sched, testIDs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(cold, warm); d != 0 {
		t.Errorf("logits with preloaded rows differ by %.2e", d)
	}
	if reads, _ := counting.Count(shardstore.WordKey); reads != len(testIDs)-3 {
		t.Errorf("%d word-row reads with 3 of %d rows preloaded, want %d", reads, len(testIDs), len(testIDs)-3)
	}
	if want := int64(len(hot) * 4 * m.Config.Hidden); stats.PreloadBytes != want || e.PreloadBytes() != want {
		t.Errorf("preload bytes %d (executor %d), want %d for %d rows", stats.PreloadBytes, e.PreloadBytes(), want, len(hot))
	}
	limited, err := NewExecutor(ctx, cs, be, ExecOptions{PreloadLimit: int64(4*m.Config.Hidden) - 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := limited.SetRows(ctx, hot[:1]); err == nil || !strings.Contains(err.Error(), "budget") {
		t.Errorf("a row over the limit: err = %v", err)
	}
	if err := e.SetRows(ctx, []int{m.Config.VocabSize}); err == nil || !strings.Contains(err.Error(), "vocabulary") {
		t.Errorf("a token id outside the vocabulary: err = %v", err)
	}
	if err := e.SetRows(ctx, nil); err != nil || e.PreloadBytes() != 0 {
		t.Errorf("emptying the rows: %v, %d bytes left", err, e.PreloadBytes())
	}
}

func TestPlannerChargesOnlyUncachedRows(t *testing.T) {
	_, s, _ := testStore(t, "fixtures/tiny-bert", 2, 4, 8, 32)
	prof := handProfiles(t, s)
	pl, err := New(prof, Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := Request{Target: time.Second, Budget: 0, SeqLen: 20}
	all, err := pl.Plan(base)
	if err != nil {
		t.Fatal(err)
	}
	base.CachedRows = 15
	some, err := pl.Plan(base)
	if err != nil {
		t.Fatal(err)
	}
	row := prof.Device.ReadTime(prof.Geometry.EmbeddingRowBytes)
	if got, want := all.PredictedLatency-some.PredictedLatency, 15*row; got != want {
		t.Errorf("15 cached rows save %v, want 15 row reads = %v", got, want)
	}
	lo0, _ := MinTargetFor(pl, Request{SeqLen: 20})
	lo15, _ := MinTargetFor(pl, Request{SeqLen: 20, CachedRows: 15})
	if lo0-lo15 != 15*row {
		t.Errorf("smallest target %v with no cached rows, %v with 15: want %v apart", lo0, lo15, 15*row)
	}
	base.CachedRows = 21
	if _, err := pl.Plan(base); err == nil || !strings.Contains(err.Error(), "cached") {
		t.Errorf("21 cached rows of 20 tokens: err = %v", err)
	}
}

func TestPreloadSplitsBudgetWithRows(t *testing.T) {
	_, s, _ := testStore(t, "fixtures/tiny-bert", 2, 4, 8, 32)
	prof := handProfiles(t, s)
	var reqs [][]int
	for i := range 100 {
		reqs = append(reqs, []int{101, 1000 + i%7, 1000 + i%13, 102})
	}
	words, err := ProfileWords("synthetic", reqs)
	if err != nil {
		t.Fatal(err)
	}
	prof.Words = words
	pl, err := New(prof, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rowMem := prof.Geometry.RowMemBytes
	for _, target := range []time.Duration{time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond, time.Second} {
		for _, budget := range []int64{0, 3 * rowMem, 64 << 10, 1 << 20} {
			pre, err := pl.Preload(target, budget)
			if err != nil {
				t.Fatal(err)
			}
			var shards int64
			for _, v := range pre.Shards {
				shards += v.Bytes
			}
			if pre.RowBytes != int64(len(pre.Rows))*rowMem || pre.Bytes != shards+pre.RowBytes || pre.Bytes > budget {
				t.Errorf("T %v B %d: %d rows (%d bytes) + %d shard bytes = %d bytes", target, budget, len(pre.Rows), pre.RowBytes, shards, pre.Bytes)
			}
		}
	}
	// A target that only cached rows make feasible at the reference
	// length: the preload set must hold rows.
	lo, err := MinTarget(pl, 64<<10, DefaultPreloadSeqLen)
	if err != nil {
		t.Fatal(err)
	}
	row := prof.Device.ReadTime(prof.Geometry.EmbeddingRowBytes)
	pre, err := pl.Preload(lo-row/2, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pre.Rows, 101) || !slices.Contains(pre.Rows, 102) {
		t.Errorf("at a target below the uncached minimum the preload rows are %v, want [CLS] and [SEP] among them", pre.Rows)
	}
}
