package elasticbench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/storage"
)

// samples builds requests on lines 1.. with the given latencies (ms) and
// whether each is predicted right (label 1, prediction 1 or 0).
func samples(lat []float64, right []bool, peak int64) []Sample {
	out := make([]Sample, len(lat))
	for i := range lat {
		pred := 0
		if right[i] {
			pred = 1
		}
		out[i] = Sample{Line: i + 2, Tokens: 10, Label: 1, Pred: pred, Latency: time.Duration(lat[i] * 1e6),
			Exec: time.Duration(lat[i] * 1e6), PeakWeightBytes: peak, IOBytes: 1000}
	}
	return out
}

func TestScore(t *testing.T) {
	right := []bool{true, true, true, false}
	hold := &UnitResult{Unit: Unit{Mode: ModeHoldInMemory, Fidelity: 32},
		Samples: samples([]float64{5, 6, 7, 8}, right, 90e6), PeakRSS: 200e6, Isolated: true}
	// Timed on the first two examples only, with the same predictions.
	load := &UnitResult{Unit: Unit{Mode: ModeLoadThenExec, Fidelity: 32, Limit: 2},
		Samples: samples([]float64{30, 50}, right[:2], 95e6), PeakRSS: 300e6, Isolated: true}
	// WRX at 20ms: one request in 4 over the target.
	w := &UnitResult{Unit: Unit{Mode: ModeWRX, Planner: "optimal", Target: 20 * time.Millisecond, Budget: 1e6},
		Samples: samples([]float64{10, 12, 19, 25}, []bool{true, false, true, false}, 3e6), PeakRSS: 40e6, Isolated: true,
		ResidentBytes: 1.5e6, PreloadBytes: 0.9e6}
	for i := range w.Samples {
		w.Samples[i].Exec -= time.Millisecond // 1ms of planning each
		w.Samples[i].PredictedLoss = float64(i)
		w.Samples[i].InFlightBound = 0.5e6
		w.Samples[i].PredictedLatency = 10 * time.Millisecond
	}
	w.Samples[3].Fallback = true
	b := &bench{}
	b.rep.Meta.Throttle = throttleString(&Setup{Throttle: storage.ThrottleConfig{Bandwidth: 100e6, Latency: 500 * time.Microsecond}})
	b.rep.Units = []*UnitResult{hold, load, w}
	b.score([]time.Duration{10 * time.Millisecond, 60 * time.Millisecond})

	within := true
	thr := "100MB/s,500µs"
	want := []Row{
		{Mode: "hold-in-memory", Fidelity: 32, TargetMS: 10, Throttle: thr, N: 4, NTimed: 4, Accuracy: 0.75, AccuracySource: "measured",
			P50MS: 6, P95MS: 8, MaxMS: 8, MeanMS: 6.5, MeetsTarget: true, PeakWeightBytes: 90e6, PeakRSSBytes: 200e6, RSSIsolated: true, MeanIOBytes: 1000},
		{Mode: "load-then-exec", Fidelity: 32, TargetMS: 10, Throttle: thr, N: 4, NTimed: 2, Accuracy: 0.75,
			AccuracySource: "hold-in-memory@32's: same computation, identical labels on the 2 timed requests",
			P50MS:          30, P95MS: 50, MaxMS: 50, MeanMS: 40, Misses: 2, MissRate: 1, PeakWeightBytes: 95e6, PeakRSSBytes: 300e6, RSSIsolated: true, MeanIOBytes: 1000},
		{Mode: "hold-in-memory", Fidelity: 32, TargetMS: 60, Throttle: thr, N: 4, NTimed: 4, Accuracy: 0.75, AccuracySource: "measured",
			P50MS: 6, P95MS: 8, MaxMS: 8, MeanMS: 6.5, MeetsTarget: true, PeakWeightBytes: 90e6, PeakRSSBytes: 200e6, RSSIsolated: true, MeanIOBytes: 1000},
		{Mode: "load-then-exec", Fidelity: 32, TargetMS: 60, Throttle: thr, N: 4, NTimed: 2, Accuracy: 0.75,
			AccuracySource: "hold-in-memory@32's: same computation, identical labels on the 2 timed requests",
			P50MS:          30, P95MS: 50, MaxMS: 50, MeanMS: 40, MeetsTarget: true, PeakWeightBytes: 95e6, PeakRSSBytes: 300e6, RSSIsolated: true, MeanIOBytes: 1000},
	}
	// The WRX row sorts first at its own target, 20ms, between them.
	wrx := Row{Mode: "wrx", Planner: "optimal", TargetMS: 20, BudgetBytes: 1e6, Throttle: thr, N: 4, NTimed: 4, Accuracy: 0.5,
		AccuracySource: "measured", P50MS: 12, P95MS: 25, MaxMS: 25, MeanMS: 16.5, Misses: 1, MissRate: 0.25,
		PeakWeightBytes: 3e6, PeakRSSBytes: 40e6, RSSIsolated: true, MeanIOBytes: 1000, Fallbacks: 1,
		PredictedLoss: 1.5, PlanMS: 1, PredictedP50MS: 10, Overrun: 1.2, ResidentBytes: 1.5e6, PreloadBytes: 0.9e6, WeightBoundBytes: 3e6, WithinBound: &within}
	want = slices.Insert(want, 2, wrx)
	if diff := cmp.Diff(want, b.rep.Rows, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	wantChecks := []Check{{Mode: "load-then-exec", Fidelity: 32, Reference: "hold-in-memory@32", Compared: 2, Agree: 2, Equal: true}}
	if diff := cmp.Diff(wantChecks, b.rep.Meta.Checks); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
}

func TestScoreFlagsDisagreeingBaseline(t *testing.T) {
	hold := &UnitResult{Unit: Unit{Mode: ModeHoldInMemory, Fidelity: 8}, Samples: samples([]float64{1, 1, 1}, []bool{true, true, true}, 1)}
	lw := &UnitResult{Unit: Unit{Mode: ModeLayerwise, Fidelity: 8, Limit: 2}, Samples: samples([]float64{1, 1}, []bool{true, false}, 1)}
	b := &bench{}
	b.rep.Units = []*UnitResult{hold, lw}
	b.score([]time.Duration{time.Second})
	row := b.rep.Rows[1]
	if row.Mode != ModeLayerwise || row.N != 2 || row.Accuracy != 0.5 || !strings.Contains(row.AccuracySource, "differ") {
		t.Errorf("a baseline that disagrees with hold-in-memory got row %+v; want its own accuracy over its 2 requests, flagged", row)
	}
	if c := b.rep.Meta.Checks; len(c) != 1 || c[0].Equal || c[0].Agree != 1 {
		t.Errorf("checks = %+v, want one unequal check with 1 agreement", c)
	}
}

func TestComparePlanners(t *testing.T) {
	rows := []Row{
		{Mode: "wrx", Planner: "optimal", TargetMS: 20, BudgetBytes: 4e6, PredictedLoss: 0.1, Accuracy: 0.9, P95MS: 19},
		{Mode: "hold-in-memory", Fidelity: 32, TargetMS: 20},
		{Mode: "wrx", Planner: "greedy", TargetMS: 20, BudgetBytes: 4e6, PredictedLoss: 0.2, Accuracy: 0.88, P95MS: 18, Fallbacks: 3},
		{Mode: "wrx", Planner: "greedy", TargetMS: 10, BudgetBytes: 4e6, PredictedLoss: 0.5, Accuracy: 0.8, P95MS: 9},
	}
	got := comparePlanners(rows, []plan.Strategy{"optimal", "greedy"})
	want := []PlannerRow{
		{TargetMS: 10, BudgetBytes: 4e6, Planners: map[plan.Strategy]PlannerStats{"greedy": {PredictedLoss: 0.5, Accuracy: 0.8, P95MS: 9}}},
		{TargetMS: 20, BudgetBytes: 4e6, Planners: map[plan.Strategy]PlannerStats{
			"optimal": {PredictedLoss: 0.1, Accuracy: 0.9, P95MS: 19},
			"greedy":  {PredictedLoss: 0.2, Accuracy: 0.88, P95MS: 18, Fallbacks: 3},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("comparePlanners (-want +got):\n%s", diff)
	}
}

// TestResultsJSONShape checks the keys issue 4 asks results.json's objects
// to have, by name, as a reader of the file sees them.
func TestResultsJSONShape(t *testing.T) {
	within := true
	r := &Report{
		Meta: Meta{Task: "sst2", N: 2, Throttle: "none", TargetsMS: []float64{20}},
		Rows: []Row{
			{Mode: "wrx", Planner: "optimal", TargetMS: 20, BudgetBytes: 1e6, N: 2, NTimed: 2, Accuracy: 1, P50MS: 1, P95MS: 2,
				PeakWeightBytes: 2e6, PeakRSSBytes: 3e7, WeightBoundBytes: 3e6, WithinBound: &within},
			{Mode: "hold-in-memory", Fidelity: 32, TargetMS: 20, N: 2, NTimed: 2, Accuracy: 1, P50MS: 1, P95MS: 2, PeakWeightBytes: 4e7, PeakRSSBytes: 9e7},
		},
	}
	dir := t.TempDir()
	if err := r.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var objs []map[string]any
	if err := json.Unmarshal(b, &objs); err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("results.json has %d objects, want 2", len(objs))
	}
	required := []string{"mode", "target_ms", "budget_bytes", "accuracy", "p50_ms", "p95_ms", "max_ms", "miss_rate",
		"peak_weight_bytes", "peak_rss_bytes", "fidelity", "throttle", "n", "meets_target", "mean_io_bytes", "fallbacks"}
	for i, o := range objs {
		var missing []string
		for _, k := range required {
			if _, ok := o[k]; !ok && !(k == "fidelity" && o["mode"] == "wrx") {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			t.Errorf("object %d (%v) lacks %v", i, o["mode"], missing)
		}
	}
	if objs[0]["planner"] != "optimal" || objs[0]["within_bound"] != true {
		t.Errorf("the WRX object lacks planner or within_bound: %v", objs[0])
	}
	for _, f := range []string{MetaFile, UnitsFile, MarkdownFile, AccuracyPNG, LatencyPNG, MemoryPNG} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: %v (size %d)", f, err, sizeOf(st))
		}
	}
	back, err := ReadReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r.Rows, back.Rows); diff != "" {
		t.Errorf("ReadReport rows (-wrote +read):\n%s", diff)
	}
	var md bytes.Buffer
	back.Markdown(&md)
	for _, s := range []string{"| hold-in-memory@32 |", "| 20 | 1.00MB | optimal |"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("Markdown lacks %q:\n%s", s, md.String())
		}
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return -1
	}
	return st.Size()
}
