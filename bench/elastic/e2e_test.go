package elasticbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	_ "github.com/wrxlabs/wrx/backend/native"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/glue"
	"github.com/wrxlabs/wrx/internal/profiletest"
	"github.com/wrxlabs/wrx/quant"
	_ "github.com/wrxlabs/wrx/storage/flatfile"
)

// childEnv makes the test binary act as `wrx bench child` (see TestMain), so
// that Subprocess can be tested without building wrx.
const childEnv = "WRX_ELASTICBENCH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := ServeChild(context.Background(), os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tinyStore converts tiny-bert into a flat-file store with hand-made
// profiles (profiletest.Store).
func tinyStore(t *testing.T) string {
	uri := "file:" + filepath.Join(t.TempDir(), "store")
	profiletest.Store(t, uri)
	return uri
}

var tinyExamples = []glue.Example{
	{Line: 2, Text: "a gorgeous , witty , seductive movie .", Label: 1},
	{Line: 3, Text: "the movie is bad .", Label: 0},
	{Line: 4, Text: "it 's a charming and often affecting journey .", Label: 2},
	{Line: 5, Text: "unflinchingly bleak and desperate", Label: 0},
	{Line: 6, Text: "allows us to hope that nolan is poised to embark a major career", Label: 1},
	{Line: 7, Text: "the acting , costumes , music , cinematography and sound are all astounding", Label: 2},
}

func TestRunEndToEnd(t *testing.T) {
	uri := tinyStore(t)
	targets := []time.Duration{time.Millisecond, time.Second}
	budgets := []int64{0, 1 << 20}
	opts := Options{
		Setup: Setup{Store: uri}, Task: "sst2", Data: "inline", Examples: tinyExamples,
		Targets: targets, Budgets: budgets, Planners: []plan.Strategy{plan.StrategyOptimal, plan.StrategyGreedy},
		BaselineLimit: 3,
	}
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}

	type key struct {
		mode    Mode
		planner plan.Strategy
		target  float64
		budget  int64
	}
	count := map[key]int{}
	var want []key
	for _, tg := range targets {
		for _, m := range []Mode{ModeHoldInMemory, ModeQuantizedHold, ModeLoadThenExec, ModeLayerwise} {
			want = append(want, key{m, "", ms(tg), 0})
		}
		for _, p := range opts.Planners {
			for _, b := range budgets {
				want = append(want, key{ModeWRX, p, ms(tg), b})
			}
		}
	}
	for _, r := range rep.Rows {
		count[key{r.Mode, r.Planner, r.TargetMS, r.BudgetBytes}]++
	}
	for _, k := range want {
		if count[k] != 1 {
			t.Errorf("%+v has %d rows, want 1", k, count[k])
		}
	}
	if len(rep.Rows) != len(want) {
		t.Errorf("%d rows, want %d", len(rep.Rows), len(want))
	}

	var holdAcc float64
	answeredRows := 0
	for _, r := range rep.Rows {
		if r.Mode == ModeHoldInMemory {
			holdAcc = r.Accuracy
		}
	}
	for _, r := range rep.Rows {
		switch r.Mode {
		case ModeLoadThenExec, ModeLayerwise:
			if r.Accuracy != holdAcc || r.N != len(tinyExamples) || r.NTimed != 3 {
				t.Errorf("%s: accuracy %v over %d (timed %d); want hold-in-memory's %v over %d (timed 3)",
					r.Mode, r.Accuracy, r.N, r.NTimed, holdAcc, len(tinyExamples))
			}
			if r.MeanIOBytes == 0 {
				t.Errorf("%s read nothing per request", r.Mode)
			}
		case ModeHoldInMemory, ModeQuantizedHold:
			if r.MeanIOBytes != 0 {
				t.Errorf("%s read %v shard bytes per request", r.Mode, r.MeanIOBytes)
			}
		case ModeWRX:
			if r.Refused > 0 {
				// Refused requests were not answered: misses and wrong.
				if r.MissRate*float64(r.N) < float64(r.Refused) || r.Accuracy > float64(r.N-r.Refused)/float64(r.N) {
					t.Errorf("wrx T=%vms B=%d: %d of %d refused, yet miss rate %v and accuracy %v", r.TargetMS, r.BudgetBytes, r.Refused, r.N, r.MissRate, r.Accuracy)
				}
			}
			if r.Refused == r.N {
				continue
			}
			answeredRows++
			if r.WithinBound == nil || r.PeakWeightBytes <= 0 || r.PeakWeightBytes > r.WeightBoundBytes {
				t.Errorf("wrx T=%vms B=%d: peak weights %d over the bound %d", r.TargetMS, r.BudgetBytes, r.PeakWeightBytes, r.WeightBoundBytes)
			}
			if r.PreloadBytes > r.BudgetBytes {
				t.Errorf("wrx T=%vms B=%d: preload %d over budget", r.TargetMS, r.BudgetBytes, r.PreloadBytes)
			}
		}
	}
	if answeredRows == 0 {
		t.Error("WRX answered no request at any target")
	}
	// The baselines computed what hold-in-memory computed: every check
	// passes, on the three timed requests of the streaming ones and every
	// request of quantized-hold.
	for _, c := range rep.Meta.Checks {
		want := 3
		if c.Mode == ModeQuantizedHold {
			want = len(tinyExamples)
		}
		if !c.Equal || c.Compared != want {
			t.Errorf("check %+v: want equal on %d requests", c, want)
		}
	}
	if len(rep.Meta.Checks) != 3 {
		t.Errorf("%d checks, want 3", len(rep.Meta.Checks))
	}
	if len(rep.Planners) != len(targets)*len(budgets) {
		t.Errorf("%d planner comparisons, want %d", len(rep.Planners), len(targets)*len(budgets))
	}
	if rep.Meta.IO == nil || rep.Meta.IO.MeasuredBandwidth <= 0 {
		t.Errorf("meta has no re-measured read side: %+v", rep.Meta.IO)
	}

	dir := t.TempDir()
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var rows []Row
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep.Rows, rows); diff != "" {
		t.Errorf("results.json (-report +file):\n%s", diff)
	}
	// Scoring the requests read back gives the same rows and comparisons.
	back, err := ReadReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	back.Rescore()
	if diff := cmp.Diff(rep.Rows, back.Rows); diff != "" {
		t.Errorf("rescored rows (-run +rescored):\n%s", diff)
	}
	if diff := cmp.Diff(rep.Planners, back.Planners); diff != "" {
		t.Errorf("rescored planners (-run +rescored):\n%s", diff)
	}
}

// failAfter measures n units in process, then fails.
type failAfter struct {
	n, calls int
}

func (f *failAfter) Measure(ctx context.Context, job *Job) (*UnitResult, error) {
	f.calls++
	if f.calls > f.n {
		return nil, errors.New("injected failure")
	}
	return Measure(ctx, job)
}

func TestRunResume(t *testing.T) {
	uri := tinyStore(t)
	opts := Options{
		Setup: Setup{Store: uri}, Data: "inline", Examples: tinyExamples[:3], Budgets: []int64{0, 1 << 20},
		Modes: []Mode{ModeWRX, ModeLayerwise},
		// Fixed targets: automatic ones come from measured times, which a
		// loaded machine moves below the planner's minimum on this tiny
		// model, and resuming is what this test is about.
		Targets: []time.Duration{100 * time.Millisecond, time.Second, 10 * time.Second},
	}
	// Layerwise and two WRX units, then a failure.
	opts.Measurer = &failAfter{n: 3}
	partial, err := Run(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("err = %v, want the injected failure", err)
	}
	if partial == nil || len(partial.Units) != 3 || len(partial.Rows) == 0 {
		t.Fatalf("partial report %+v, want 3 units and their rows", partial)
	}
	if !strings.Contains(strings.Join(partial.Meta.Notes, " "), "INCOMPLETE") {
		t.Errorf("partial report notes %q do not say it is incomplete", partial.Meta.Notes)
	}
	dir := t.TempDir()
	if err := partial.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	prev, err := ReadReport(dir)
	if err != nil {
		t.Fatal(err)
	}

	counter := &failAfter{n: 1000}
	opts.Measurer, opts.Resume = counter, prev
	full, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	n := len(full.Meta.TargetsMS)
	if diff := cmp.Diff(prev.Meta.TargetsMS, full.Meta.TargetsMS); diff != "" {
		t.Errorf("resumed targets (-earlier +resumed):\n%s", diff)
	}
	if want := 1 + 2*n; len(full.Units) != want || counter.calls != want-3 {
		t.Errorf("resumed run has %d units and measured %d; want %d and %d", len(full.Units), counter.calls, want, want-3)
	}
	for i := range 3 {
		if diff := cmp.Diff(prev.Units[i], full.Units[i]); diff != "" {
			t.Errorf("unit %d was not reused (-earlier +resumed):\n%s", i, diff)
		}
	}
	if diff := cmp.Diff(prev.Meta.IO, full.Meta.IO); diff != "" {
		t.Errorf("read profile (-earlier +resumed):\n%s", diff)
	}

	other := opts
	other.Setup.Throttle.Bandwidth = 1e6
	if _, err := Run(context.Background(), other); err == nil || !strings.Contains(err.Error(), "cannot resume") {
		t.Errorf("resuming with another throttle: err = %v", err)
	}
}

func TestRunAutoTargets(t *testing.T) {
	uri := tinyStore(t)
	rep, err := Run(context.Background(), Options{
		Setup: Setup{Store: uri}, Examples: tinyExamples[:2], Modes: []Mode{ModeWRX},
		Budgets: []int64{1 << 20}, AutoTargets: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Meta
	if !m.TargetsAuto || len(m.TargetsMS) < 2 || len(m.TargetsMS) > 4 {
		t.Fatalf("automatic targets %v (auto %v), want 2 to 4", m.TargetsMS, m.TargetsAuto)
	}
	if m.TargetsMS[0] < m.AutoTargetMin || m.TargetsMS[len(m.TargetsMS)-1] < m.AutoTargetMax || !slices.IsSorted(m.TargetsMS) {
		t.Errorf("targets %v do not span [%v, %v] in order", m.TargetsMS, m.AutoTargetMin, m.AutoTargetMax)
	}
	if !strings.Contains(m.AutoMaxSource, "prediction") {
		t.Errorf("without a layerwise run the top target should be the planner's prediction; source %q", m.AutoMaxSource)
	}
	if len(rep.Rows) != len(m.TargetsMS) {
		t.Errorf("%d rows for %d targets and one budget", len(rep.Rows), len(m.TargetsMS))
	}
}

// Quantized-hold runs at its own fidelities; the other baselines at
// Fidelities.
func TestRunModeFidelities(t *testing.T) {
	uri := tinyStore(t)
	rep, err := Run(context.Background(), Options{
		Setup: Setup{Store: uri}, Examples: tinyExamples[:2], Modes: []Mode{ModeHoldInMemory, ModeQuantizedHold},
		Fidelities: []quant.Fidelity{32}, ModeFidelities: map[Mode][]quant.Fidelity{ModeQuantizedHold: {4, 32}},
		Targets: []time.Duration{time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range rep.Units {
		got = append(got, u.Unit.String())
	}
	want := []string{"hold-in-memory@32", "quantized-hold@32", "quantized-hold@4"}
	if !slices.Equal(got, want) {
		t.Errorf("units %v, want %v", got, want)
	}
}

func TestRunErrors(t *testing.T) {
	uri := tinyStore(t)
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"no examples", Options{Setup: Setup{Store: uri}}, "no examples"},
		{"no store", Options{Examples: tinyExamples}, "no store"},
		{"bad target", Options{Setup: Setup{Store: uri}, Examples: tinyExamples, Targets: []time.Duration{-time.Second}}, "not positive"},
		{"bad budget", Options{Setup: Setup{Store: uri}, Examples: tinyExamples, Budgets: []int64{-1}}, "negative"},
		{"bad planner", Options{Setup: Setup{Store: uri}, Examples: tinyExamples, Planners: []plan.Strategy{"magic"}}, "magic"},
		{"missing fidelity", Options{Setup: Setup{Store: uri}, Examples: tinyExamples, Modes: []Mode{ModeHoldInMemory},
			Fidelities: []quant.Fidelity{8}, Targets: []time.Duration{time.Second}}, "no 8-bit"},
		{"missing mode fidelity", Options{Setup: Setup{Store: uri}, Examples: tinyExamples, Modes: []Mode{ModeQuantizedHold},
			ModeFidelities: map[Mode][]quant.Fidelity{ModeQuantizedHold: {2}}, Targets: []time.Duration{time.Second}}, "no 2-bit"},
		{"WRX fidelity", Options{Setup: Setup{Store: uri}, Examples: tinyExamples,
			ModeFidelities: map[Mode][]quant.Fidelity{ModeWRX: {4}}, Targets: []time.Duration{time.Second}}, "WRX"},
		{"missing store", Options{Setup: Setup{Store: "file:" + filepath.Join(t.TempDir(), "none")}, Examples: tinyExamples}, "none"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Run(context.Background(), c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestSubprocess(t *testing.T) {
	uri := tinyStore(t)
	exe, err := os.Executable()
	if err != nil {
		t.Skip("no executable path:", err)
	}
	t.Setenv(childEnv, "1")
	job := &Job{Setup: Setup{Store: uri}, Unit: Unit{Mode: ModeLayerwise, Fidelity: 4, Limit: 2}, Examples: tinyExamples}
	sub := &Subprocess{Path: exe}
	res, err := sub.Measure(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Isolated || len(res.Samples) != 2 || res.PeakRSS <= 0 {
		t.Errorf("child result: isolated %v, %d samples, peak RSS %d; want isolated, 2, positive", res.Isolated, len(res.Samples), res.PeakRSS)
	}
	inproc, err := Measure(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	for i := range res.Samples {
		if res.Samples[i].Pred != inproc.Samples[i].Pred || res.Samples[i].IOBytes != inproc.Samples[i].IOBytes {
			t.Errorf("request %d: child %+v, in process %+v", i, res.Samples[i], inproc.Samples[i])
		}
	}

	// A failing child names the unit and passes on its error.
	bad := *job
	bad.Setup.Store = "file:" + filepath.Join(t.TempDir(), "missing")
	if _, err := sub.Measure(context.Background(), &bad); err == nil || !strings.Contains(err.Error(), "layerwise-pipeline@4") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("failing child: err = %v", err)
	}
	// So does a child that is not one.
	if _, err := (&Subprocess{Path: "/bin/true"}).Measure(context.Background(), job); err == nil {
		t.Error("a child printing nothing gave no error")
	}
}

func TestServeChildRejectsBadJobs(t *testing.T) {
	for _, in := range []string{"", "{", `{"setup":{}}`, `{"setup":{"store":"x"},"bogus":1}`} {
		var out bytes.Buffer
		if err := ServeChild(context.Background(), strings.NewReader(in), &out); err == nil {
			t.Errorf("ServeChild(%q) gave no error", in)
		}
	}
}

func TestImportanceEndToEnd(t *testing.T) {
	uri := tinyStore(t)
	rep, err := Importance(context.Background(), ImportanceOptions{
		Setup: Setup{Store: uri}, Examples: tinyExamples, Ks: []int{2, 4}, Seeds: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Shards != 12 || rep.Fidelity != 32 || rep.N != len(tinyExamples) {
		t.Errorf("report header %+v", rep)
	}
	// The profile ranks shard (l, h) by 4l+h: layer 0's heads are the
	// least important, layer 2's the most.
	want := map[string][][2]int{
		"least 2": {{0, 0}, {0, 1}},
		"least 4": {{0, 0}, {0, 1}, {0, 2}, {0, 3}},
		"most 2":  {{2, 3}, {2, 2}},
		"most 4":  {{2, 3}, {2, 2}, {2, 1}, {2, 0}},
	}
	random := map[uint64][][2]int{}
	for _, r := range rep.Rows {
		if r.Accuracy < 0 || r.Accuracy > 1 || r.Agreement < 0 || r.Agreement > 1 {
			t.Errorf("row %+v out of range", r)
		}
		if r.Kind == "random" {
			if len(r.Dropped) != r.K {
				t.Errorf("random row drops %d shards, want %d", len(r.Dropped), r.K)
			}
			if prev, ok := random[r.Seed]; ok && !slices.Equal(prev, r.Dropped[:len(prev)]) {
				t.Errorf("seed %d: k=%d set %v does not extend the smaller set %v", r.Seed, r.K, r.Dropped, prev)
			}
			random[r.Seed] = r.Dropped
			continue
		}
		name := r.Kind + " " + string(rune('0'+r.K))
		if diff := cmp.Diff(want[name], r.Dropped); diff != "" {
			t.Errorf("%s dropped (-want +got):\n%s", name, diff)
		}
		sum := 0.0
		for _, d := range r.Dropped {
			sum += 0.1 * float64(4*d[0]+d[1]+1)
		}
		if diff := cmp.Diff(sum, r.ProfiledLoss, cmpopts.EquateApprox(0, 1e-12)); diff != "" {
			t.Errorf("%s profiled loss (-want +got):\n%s", name, diff)
		}
	}
	if len(rep.Rows) != 2*(2+2) || len(rep.Summary) != 2 {
		t.Errorf("%d rows and %d summaries, want 8 and 2", len(rep.Rows), len(rep.Summary))
	}
	for _, s := range rep.Summary {
		if s.Seeds != 2 || s.RandomMin > s.RandomMean+1e-12 || s.RandomMean > s.RandomMax+1e-12 || s.AgreementBeats > s.Seeds || s.LeastBeats+s.Ties > s.Seeds {
			t.Errorf("summary %+v inconsistent", s)
		}
	}
	// The full model held in memory is what hold-in-memory@32 serves.
	hold, err := Measure(context.Background(), &Job{Setup: Setup{Store: uri}, Unit: Unit{Mode: ModeHoldInMemory, Fidelity: 32}, Examples: tinyExamples})
	if err != nil {
		t.Fatal(err)
	}
	if acc := accuracy(hold.Samples); acc != rep.FullAccuracy {
		t.Errorf("full-model accuracy %v, hold-in-memory@32 %v", rep.FullAccuracy, acc)
	}
	dir := t.TempDir()
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ImportanceFile, ImportanceMD, ImportancePNG} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	back, err := ReadImportanceReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep, back); diff != "" {
		t.Errorf("importance report read back (-wrote +read):\n%s", diff)
	}
	if _, err := Importance(context.Background(), ImportanceOptions{Setup: Setup{Store: uri}, Examples: tinyExamples, Ks: []int{13}}); err == nil {
		t.Error("dropping 13 of 12 shards gave no error")
	}
}
