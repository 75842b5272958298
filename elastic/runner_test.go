package elastic

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/backend/native"
	"github.com/wrxlabs/wrx/elastic/internal/plantest"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/shardstore"
)

// handProfiles builds planner inputs for a store by hand (see plantest).
func handProfiles(t *testing.T, s *shardstore.Store) *plan.Profiles {
	t.Helper()
	g, err := profile.GeometryFromManifest(s.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	p, err := plantest.Profiles(g)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var testIDs = []int{101, 2009, 1005, 1055, 1037, 11951, 1998, 2411, 12473, 4990, 1012, 102}

func TestRunnerWRXStaysWithinBudget(t *testing.T) {
	_, s, _ := storetest.SynthFixture(t, "fixtures/tiny-bert", 2, 4, 8, 32)
	be, _ := backend.Get("native")
	ctx := context.Background()
	prof := handProfiles(t, s)
	const maxLen = 32
	foot := Footprint(s, be, prof.Geometry.Bits, maxLen, 0)
	min := foot.Min()
	for _, budget := range []int64{0, min, min + 64<<10, min + 1<<20} {
		// No calibration: on a loaded machine it may measure a slack that
		// refuses the request, which is not what this test is about.
		r, err := NewRunner(ctx, s, be, RunnerOptions{Target: 40 * time.Millisecond, Budget: budget, MaxSeqLen: maxLen, Profiles: prof, Calibration: -1})
		if err != nil {
			t.Fatal(err)
		}
		d := r.Division()
		if want := max(budget, min); d.Total != want || d.Fixed+d.InFlightBytes()+d.Preload != want || d.Preload < 0 || d.InFlight < 1 {
			t.Errorf("budget %d: division %+v does not spend %d bytes", budget, d, want)
		}
		_, info, err := r.Run(ctx, time.Time{}, testIDs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if info.PreloadBytes > d.Preload {
			t.Errorf("budget %d: preload holds %d bytes, its share is %d", budget, info.PreloadBytes, d.Preload)
		}
		if info.Plan == nil || info.Plan.PredictedLatency > 40*time.Millisecond {
			t.Errorf("budget %d: plan %+v predicted over the target", budget, info.Plan)
		}
		if bound := info.ResidentBytes + d.Preload + d.InFlightBytes(); info.PeakWeightBytes > bound {
			t.Errorf("budget %d: peak weight bytes %d above resident + preload + in-flight %d", budget, info.PeakWeightBytes, bound)
		}
		if _, _, err := r.Run(ctx, time.Time{}, make([]int, maxLen+1), nil); err == nil {
			t.Errorf("budget %d: a request longer than MaxSeqLen ran", budget)
		}
		r.Close()
	}
	_, err := NewRunner(ctx, s, be, RunnerOptions{Target: 40 * time.Millisecond, Budget: min - 1, MaxSeqLen: maxLen, Profiles: prof})
	var be2 *plan.BudgetError
	if !errors.As(err, &be2) || !errors.Is(err, plan.ErrBudget) || !strings.Contains(err.Error(), fmt.Sprintf("(%d bytes)", min)) {
		t.Errorf("a budget a byte below the minimum: err = %v, want a BudgetError naming %d bytes", err, min)
	}
	_, err = NewRunner(ctx, s, be, RunnerOptions{Target: time.Microsecond, Budget: 0, Profiles: prof})
	var inf *plan.InfeasibleError
	if !errors.As(err, &inf) {
		t.Fatalf("a 1µs target: err = %v, want an InfeasibleError", err)
	}
	if _, err := NewRunner(ctx, s, be, RunnerOptions{Target: time.Second}); err == nil {
		t.Error("wrx mode without profiles was accepted")
	}
}

func TestRunnerRefusesAProfileOfOtherThreads(t *testing.T) {
	_, s, _ := storetest.SynthFixture(t, "fixtures/tiny-bert", 2, 32)
	prof := handProfiles(t, s)
	prof.Device.Threads = 3
	be := native.New(native.Options{Threads: 1})
	_, err := NewRunner(context.Background(), s, be, RunnerOptions{Target: time.Second, Profiles: prof})
	if err == nil || !strings.Contains(err.Error(), "3 compute threads") || !strings.Contains(err.Error(), "has 1") {
		t.Errorf("a profile of 3 threads with a 1-thread backend: err = %v", err)
	}
	prof.Device.Threads = 1
	if _, err := NewRunner(context.Background(), s, be, RunnerOptions{Target: time.Second, Profiles: prof}); err != nil {
		t.Errorf("matching threads: %v", err)
	}
}

func TestRunnerRefusesWhatItCannotAnswerInTime(t *testing.T) {
	_, s, _ := storetest.Fixture(t, "fixtures/tiny-bert", 2, 4, 8, 32)
	be, _ := backend.Get("native")
	ctx := context.Background()
	prof := handProfiles(t, s)
	target := 40 * time.Millisecond
	for _, bestEffort := range []bool{false, true} {
		r, err := NewRunner(ctx, s, be, RunnerOptions{Target: target, Budget: Footprint(s, be, prof.Geometry.Bits, 32, 0).Min() + 64<<10, MaxSeqLen: 32, Profiles: prof, BestEffort: bestEffort, Calibration: -1})
		if err != nil {
			t.Fatal(err)
		}
		// A request that arrived almost a whole target ago.
		_, info, err := r.Run(ctx, time.Now().Add(-target+100*time.Microsecond), testIDs, nil)
		if !bestEffort {
			var de *DeadlineError
			if !errors.Is(err, plan.ErrDeadline) || !errors.As(err, &de) {
				t.Errorf("a request with 0.1ms left: err = %v, want a DeadlineError wrapping plan.ErrDeadline", err)
			}
			continue
		}
		if err != nil || !info.Late || info.Plan == nil {
			t.Errorf("best effort with 0.1ms left: err %v, late %v", err, info.Late)
			continue
		}
		shards := 0
		for _, l := range info.Plan.Layers {
			shards += len(l.Shards)
		}
		if shards == 0 {
			t.Error("best effort ran a plan of no shard: a constant answer")
		}
		if info.Total < target-100*time.Microsecond {
			t.Errorf("total latency %v does not count from arrival", info.Total)
		}
	}
}

// TestRunnerQueuesAndAdmits sends concurrent requests while the device is
// busy: they take turns, and those the queue ahead already makes late are
// refused at once, the others answered, all with the right logits.
func TestRunnerQueuesAndAdmits(t *testing.T) {
	_, s, _ := storetest.Fixture(t, "fixtures/tiny-bert", 2, 4, 8, 32)
	be, _ := backend.Get("native")
	ctx := context.Background()
	prof := handProfiles(t, s)
	target := 300 * time.Millisecond
	r, err := NewRunner(ctx, s, be, RunnerOptions{Target: target, Budget: Footprint(s, be, prof.Geometry.Bits, 32, 0).Min() + 1<<20, MaxSeqLen: 32, Profiles: prof, Calibration: -1})
	if err != nil {
		t.Fatal(err)
	}
	floor, err := plan.MinTargetFor(r.planner, plan.Request{Budget: r.budget, SeqLen: len(testIDs), Preload: r.preload, CachedRows: r.exec.CachedRows(testIDs)})
	if err != nil {
		t.Fatal(err)
	}
	r.device <- struct{}{} // the device is busy
	const n = 80
	type result struct {
		err   error
		late  bool
		total time.Duration
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, info, err := r.Run(ctx, time.Time{}, testIDs, nil)
			results <- result{err, info.Late, info.Total}
		})
	}
	// Everyone is queued (its fastest plan in the backlog) or refused
	// before the device frees up.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		r.mu.Lock()
		queued := int(r.backlog / floor)
		r.mu.Unlock()
		if queued+len(results) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued and %d refused of %d after 10s", queued, len(results), n)
		}
	}
	<-r.device
	wg.Wait()
	close(results)
	var answered, refused int
	for res := range results {
		switch {
		case res.err == nil:
			answered++
		case errors.Is(res.err, plan.ErrDeadline):
			refused++
		default:
			t.Errorf("unexpected error: %v", res.err)
		}
	}
	// Admission lets in as many as their fastest plans fit in the target.
	want := int(target / floor)
	if answered+refused != n || answered < 1 || answered > want || refused < n-want {
		t.Errorf("%d answered, %d refused of %d; the target holds at most %d fastest plans of %v", answered, refused, n, want, floor)
	}
	t.Logf("%d answered, %d refused at once (fastest plan %v, target %v)", answered, refused, floor, target)
}

// TestDivideBudgetCountsPreloadedRows: on a device where each word row is
// a slow read of its own (an SD card), a division is rated on a request
// of the reference length with the rows its preload buffer keeps
// expected to hit, as the planner chose them; rated with none cached, a
// target that every request with the common words meets was refused.
func TestDivideBudgetCountsPreloadedRows(t *testing.T) {
	_, s, _ := storetest.SynthFixture(t, "fixtures/tiny-bert", 2, 4, 8, 32)
	be, _ := backend.Get("native")
	prof := handProfiles(t, s)
	prof.Device.RowReadTime = time.Millisecond
	// The tokens of testIDs occur in every profiled request.
	prof.Words = &plan.WordProfile{Source: "test", Requests: 100}
	for _, id := range testIDs {
		prof.Words.Top = append(prof.Words.Top, plan.WordCount{ID: id, Requests: 100})
	}
	const maxLen = 32
	budget := Footprint(s, be, prof.Geometry.Bits, maxLen, 0).Min() + 1<<20
	_, pl, pre, err := DivideBudget(s, be, prof, plan.Options{}, time.Second, budget, maxLen)
	if err != nil {
		t.Fatal(err)
	}
	hits := len(testIDs)
	req := plan.Request{Target: time.Second, Budget: pre.Budget, SeqLen: plan.DefaultPreloadSeqLen, Preload: pre}
	cold, err := plan.MinTargetFor(pl, req)
	if err != nil {
		t.Fatal(err)
	}
	req.CachedRows = hits
	warm, err := plan.MinTargetFor(pl, req)
	if err != nil {
		t.Fatal(err)
	}
	if cold-warm < time.Duration(hits)*time.Millisecond/2 {
		t.Fatalf("%d cached rows lower the smallest target from %v to %v only", hits, cold, warm)
	}
	target := (cold + warm) / 2
	div, _, pre, err := DivideBudget(s, be, prof, plan.Options{}, target, budget, maxLen)
	if err != nil {
		t.Fatalf("target %v, between the smallest with no row cached (%v) and with the %d expected (%v): %v", target, cold, hits, warm, err)
	}
	if got := prof.Words.ExpectedHits(pre.Rows, plan.DefaultPreloadSeqLen); got != hits {
		t.Errorf("target %v: division %v keeps %d word rows, expected to hit %d times, want all %d hot ones", target, div, len(pre.Rows), got, hits)
	}
}

// TestDivideBudgetReadsFewestAmongEqual: at a target where every division
// reaches about the same least loss, DivideBudget returns one whose plan
// for the reference request reads the fewest bytes among those within the
// planner's loss tolerance of the best, as the planner chooses among its
// own plans.
func TestDivideBudgetReadsFewestAmongEqual(t *testing.T) {
	_, s, _ := storetest.SynthFixture(t, "fixtures/tiny-bert", 2, 4, 8, 32)
	be, _ := backend.Get("native")
	prof := handProfiles(t, s)
	// Every shard is as good at 8 bits as at 32: many divisions reach the
	// same least loss, reading different amounts.
	for _, row := range prof.Importance.Shards {
		for h := range row {
			for i, b := range prof.Importance.Bits {
				if b >= 8 {
					row[h].Loss[i] = 0
				}
			}
		}
	}
	const maxLen, target = 32, time.Second
	foot := Footprint(s, be, prof.Geometry.Bits, maxLen, 0)
	budget := foot.Min() + 256<<10
	n := plan.DefaultPreloadSeqLen
	reference := func(d plan.Division) (loss float64, bytes int64) {
		pl, err := plan.New(prof.UpTo(d.StreamBits), plan.Options{InFlight: d.InFlight})
		if err != nil {
			t.Fatal(err)
		}
		pre, err := pl.Preload(target, d.Preload)
		if err != nil {
			t.Fatal(err)
		}
		p, err := pl.Plan(plan.Request{Target: target, Budget: d.Preload, SeqLen: n, Preload: pre})
		if err != nil {
			t.Fatal(err)
		}
		return p.BestLoss, p.StreamedBytes()
	}
	least, fewest := math.Inf(1), int64(math.MaxInt64)
	type rated struct {
		loss  float64
		bytes int64
	}
	var all []rated
	if _, err := plan.Divide(budget, foot, plan.DefaultInFlight, func(d plan.Division) float64 {
		l, b := reference(d)
		all = append(all, rated{l, b})
		least = min(least, l)
		return l
	}); err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		if r.loss <= least+plan.DefaultLossTolerance {
			fewest = min(fewest, r.bytes)
		}
	}
	div, _, _, err := DivideBudget(s, be, prof, plan.Options{}, target, budget, maxLen)
	if err != nil {
		t.Fatal(err)
	}
	loss, bytes := reference(div)
	t.Logf("%d divisions rated; least loss %.3g; chosen %v: loss %.3g, %d bytes; fewest within the tolerance %d", len(all), least, div, loss, bytes, fewest)
	if loss > least+plan.DefaultLossTolerance || bytes != fewest {
		t.Errorf("division %v: loss %.3g, %d bytes; want at most %.3g and the fewest bytes, %d", div, loss, bytes, least+plan.DefaultLossTolerance, fewest)
	}
}
