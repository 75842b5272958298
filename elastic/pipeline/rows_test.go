package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/shardstore"
)

func TestExecutorPreloadedRows(t *testing.T) {
	m, _, uri := testStore(t, "fixtures/tiny-bert", 8)
	ctx := context.Background()
	be, _ := backend.Get("native")
	counting, cs := countedStore(t, uri)
	sched := fullPlan(t, cs, 8)
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
