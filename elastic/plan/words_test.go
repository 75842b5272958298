package plan_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/elastic/internal/plantest"
	"github.com/wrxlabs/wrx/elastic/plan"
)

func TestPlannerChargesOnlyUncachedRows(t *testing.T) {
	prof, err := plantest.Profiles(plantest.Geometry(2, 4, 8, 32))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := plan.New(prof, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := plan.Request{Target: time.Second, Budget: 0, SeqLen: 20}
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
	lo0, _ := plan.MinTargetFor(pl, plan.Request{SeqLen: 20})
	lo15, _ := plan.MinTargetFor(pl, plan.Request{SeqLen: 20, CachedRows: 15})
	if lo0-lo15 != 15*row {
		t.Errorf("smallest target %v with no cached rows, %v with 15: want %v apart", lo0, lo15, 15*row)
	}
	base.CachedRows = 21
	if _, err := pl.Plan(base); err == nil || !strings.Contains(err.Error(), "cached") {
		t.Errorf("21 cached rows of 20 tokens: err = %v", err)
	}
}

func TestPreloadSplitsBudgetWithRows(t *testing.T) {
	prof, err := plantest.Profiles(plantest.Geometry(2, 4, 8, 32))
	if err != nil {
		t.Fatal(err)
	}
	var reqs [][]int
	for i := range 100 {
		reqs = append(reqs, []int{101, 1000 + i%7, 1000 + i%13, 102})
	}
	prof.Words = countWords(reqs)
	pl, err := plan.New(prof, plan.Options{})
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
	lo, err := plan.MinTarget(pl, 64<<10, plan.DefaultPreloadSeqLen)
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

// countWords is the word profile of reqs, each token counted once per
// request (as profile.ProfileWords counts).
func countWords(reqs [][]int) *plan.WordProfile {
	counts := map[int]int{}
	for _, ids := range reqs {
		seen := map[int]bool{}
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				counts[id]++
			}
		}
	}
	p := &plan.WordProfile{Source: "synthetic", Requests: len(reqs)}
	for id, n := range counts {
		p.Top = append(p.Top, plan.WordCount{ID: id, Requests: n})
	}
	slices.SortFunc(p.Top, func(a, b plan.WordCount) int { return cmp.Or(b.Requests-a.Requests, a.ID-b.ID) })
	return p
}
