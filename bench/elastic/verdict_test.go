package elasticbench

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/internal/units"
)

// answers builds n requests on lines 2.., each taking latMS, with label 1
// and prediction 1 where right(i), else 0. limit > 0 keeps the first limit.
func answers(n, limit int, latMS float64, right func(i int) bool) []Sample {
	if limit > 0 {
		n = limit
	}
	out := make([]Sample, n)
	for i := range out {
		out[i] = Sample{Line: i + 2, Label: 1, Latency: time.Duration(latMS * 1e6), Exec: time.Duration(latMS * 1e6)}
		if right(i) {
			out[i].Pred = 1
		}
	}
	return out
}

func below(k int) func(int) bool { return func(i int) bool { return i < k } }

const floor = 50_000_000 // every unit's runtime floor

// unit is an isolated unit whose model RSS (peak minus floor) is model.
func unit(u Unit, model int64, s []Sample) *UnitResult {
	return &UnitResult{Unit: u, Samples: s, FloorRSS: floor, PeakRSS: floor + model, Isolated: true}
}

// verdictReport is a hand-made benchmark of 20 requests at targets 10ms
// and 40ms and budgets 2MB (fits: model RSS ≤ 3,148,576 bytes) and 4MB
// (≤ 5,248,576). Right answers, by request index i:
//
//	hold-in-memory@32   i < 16 (0.80)  3 ms   100 MB
//	hold-in-memory@8    i < 16 (0.80)  8 ms    30 MB
//	quantized-hold@4    i < 14 (0.70)  6 ms   3.5 MB
//	quantized-hold@2    i < 10 (0.50)  5 ms   3,148,576 B: exactly the 2MB limit
//	layerwise@8         first 5 only, as hold@8: accuracy hold@8's 0.80, 30 ms, 4 MB
//	wrx 10ms 2MB        i < 12 (0.60)  5 ms   2.5 MB
//	wrx 10ms 4MB        i < 18 (0.90)  5 ms   4.2 MB
//	wrx 40ms 2MB        i < 16 (0.80) 20 ms   3.3 MB: over the 2MB limit
//	wrx 40ms 4MB        1 ≤ i < 17 (0.80) 20 ms 4.0 MB
func verdictReport() *Report {
	const n = 20
	wrx := func(t time.Duration, b int64) Unit {
		return Unit{Mode: ModeWRX, Planner: "optimal", Target: t, Budget: b}
	}
	ms10, ms40 := 10*time.Millisecond, 40*time.Millisecond
	b := &bench{}
	b.rep.Units = []*UnitResult{
		unit(Unit{Mode: ModeHoldInMemory, Fidelity: 32}, 100e6, answers(n, 0, 3, below(16))),
		unit(Unit{Mode: ModeHoldInMemory, Fidelity: 8}, 30e6, answers(n, 0, 8, below(16))),
		unit(Unit{Mode: ModeQuantizedHold, Fidelity: 4}, 3.5e6, answers(n, 0, 6, below(14))),
		unit(Unit{Mode: ModeQuantizedHold, Fidelity: 2}, 3_148_576, answers(n, 0, 5, below(10))),
		unit(Unit{Mode: ModeLayerwise, Fidelity: 8, Limit: 5}, 4e6, answers(n, 5, 30, below(16))),
		unit(wrx(ms10, 2e6), 2.5e6, answers(n, 0, 5, below(12))),
		unit(wrx(ms10, 4e6), 4.2e6, answers(n, 0, 5, below(18))),
		unit(wrx(ms40, 2e6), 3.3e6, answers(n, 0, 20, below(16))),
		unit(wrx(ms40, 4e6), 4e6, answers(n, 0, 20, func(i int) bool { return i >= 1 && i < 17 })),
	}
	b.rep.Meta.TargetsMS = []float64{10, 40}
	b.score([]time.Duration{ms10, ms40})
	return &b.rep
}

func TestJudge(t *testing.T) {
	j := verdictReport().Judge()
	if len(j.Verdicts) != 4 {
		t.Fatalf("%d verdicts, want 4 (2 targets × 2 budgets)", len(j.Verdicts))
	}
	type want struct {
		target   float64
		budget   int64
		limit    int64
		wrx      string // label, or "" for none
		wrxAcc   float64
		status   string
		base     string
		baseAcc  float64
		diff     [4]float64 // estimate, lo, hi, n; n 0: no difference
		outcome  string
		statuses map[string]string
	}
	// The intervals are the nearest-rank 2.5% and 97.5% quantiles of the
	// exact bootstrap distribution of the mean difference: with k of 20
	// differences +1 and the rest 0, Binomial(20, k/20)/20; with one +1 and
	// one −1, the difference of the two counts of a multinomial (20; 0.05,
	// 0.05, 0.9) over 20 (computed in Python with math.comb; numpy's
	// bootstrap agrees). Each bound is over 4.5 standard errors of 10,000
	// resamples from the next value.
	wants := []want{
		{
			target: 10, budget: 2e6, limit: 3_148_576,
			wrx: "wrx/optimal 2.00MB", wrxAcc: 0.60, status: "qualifies",
			// quantized-hold@2 fits exactly at the limit; @4 is over it.
			base: "quantized-hold@2", baseAcc: 0.50,
			// 2 of 20 differences +1: Binomial(20, 0.1): [0, 5/20].
			diff: [4]float64{0.10, 0, 0.25, 20}, outcome: "no significant difference",
			statuses: map[string]string{
				"hold-in-memory@32": "does not fit", "hold-in-memory@8": "does not fit",
				"quantized-hold@4": "does not fit", "quantized-hold@2": "qualifies",
				"layerwise-pipeline@8": "does not fit, misses target",
			},
		},
		{
			target: 10, budget: 4e6, limit: 5_248_576,
			wrx: "wrx/optimal 4.00MB", wrxAcc: 0.90, status: "qualifies",
			base: "quantized-hold@4", baseAcc: 0.70,
			// 4 of 20 +1: Binomial(20, 0.2): [1/20, 8/20].
			diff: [4]float64{0.20, 0.05, 0.40, 20}, outcome: "WRX more accurate",
			statuses: map[string]string{
				"hold-in-memory@32": "does not fit", "quantized-hold@4": "qualifies",
				"layerwise-pipeline@8": "misses target",
			},
		},
		{
			// WRX's only row at 40ms with 2MB meets the target in 3.3MB,
			// over the limit: only the baselines qualify, and the verdict
			// says how WRX compares all the same: 6 of 20 +1,
			// Binomial(20, 0.3): [2/20, 10/20].
			target: 40, budget: 2e6, limit: 3_148_576,
			wrx: "wrx/optimal 2.00MB", wrxAcc: 0.80, status: "does not fit",
			base: "quantized-hold@2", baseAcc: 0.50,
			diff:     [4]float64{0.30, 0.10, 0.50, 20},
			outcome:  "only baselines qualify (WRX does not fit: more accurate)",
			statuses: map[string]string{"layerwise-pipeline@8": "does not fit"},
		},
		{
			// layerwise-pipeline@8, timed on 5 requests, is paired on
			// hold-in-memory@8's 20 answers: one +1 (i = 16) and one −1
			// (i = 0): [−3/20, 3/20].
			target: 40, budget: 4e6, limit: 5_248_576,
			wrx: "wrx/optimal 4.00MB", wrxAcc: 0.80, status: "qualifies",
			base: "layerwise-pipeline@8", baseAcc: 0.80,
			diff: [4]float64{0, -0.15, 0.15, 20}, outcome: "no significant difference",
			statuses: map[string]string{"layerwise-pipeline@8": "qualifies", "hold-in-memory@8": "does not fit"},
		},
	}
	for i, w := range wants {
		v := j.Verdicts[i]
		if v.TargetMS != w.target || v.BudgetBytes != w.budget || v.LimitBytes != w.limit {
			t.Errorf("verdict %d is at %v ms, %d bytes, limit %d; want %v ms, %d, limit %d", i, v.TargetMS, v.BudgetBytes, v.LimitBytes, w.target, w.budget, w.limit)
			continue
		}
		name := v.TargetMS
		switch {
		case w.wrx == "" && v.WRX != nil:
			t.Errorf("%vms %d: WRX %+v qualifies, want none", name, w.budget, v.WRX)
		case w.wrx != "" && (v.WRX == nil || v.WRX.Label != w.wrx || v.WRX.Accuracy != w.wrxAcc):
			t.Errorf("%vms %d: WRX %+v, want %s at %v", name, w.budget, v.WRX, w.wrx, w.wrxAcc)
		}
		if v.WRXStatus != w.status {
			t.Errorf("%vms %d: WRX status %q, want %q", name, w.budget, v.WRXStatus, w.status)
		}
		if v.Baseline == nil || v.Baseline.Label != w.base || !approx(v.Baseline.Accuracy, w.baseAcc) {
			t.Errorf("%vms %d: baseline %+v, want %s at %v", name, w.budget, v.Baseline, w.base, w.baseAcc)
		}
		switch d := v.Difference; {
		case w.diff[3] == 0 && d != nil:
			t.Errorf("%vms %d: difference %+v, want none", name, w.budget, d)
		case w.diff[3] != 0 && d == nil:
			t.Errorf("%vms %d: no difference, want %v", name, w.budget, w.diff)
		case d != nil && (!approx(d.Estimate, w.diff[0]) || !approx(d.Lo, w.diff[1]) || !approx(d.Hi, w.diff[2]) || d.N != int(w.diff[3]) || d.Level != 0.95):
			t.Errorf("%vms %d: difference %.4f [%.4f, %.4f] over %d, want %v", name, w.budget, d.Estimate, d.Lo, d.Hi, d.N, w.diff)
		}
		if v.Outcome != w.outcome {
			t.Errorf("%vms %d: outcome %q, want %q", name, w.budget, v.Outcome, w.outcome)
		}
		got := map[string]string{}
		for _, c := range v.Baselines {
			got[c.Label] = c.Status()
		}
		if len(got) != 5 {
			t.Errorf("%vms %d: %d baselines listed, want 5: %v", name, w.budget, len(got), got)
		}
		for l, s := range w.statuses {
			if got[l] != s {
				t.Errorf("%vms %d: %s is %q, want %q", name, w.budget, l, got[l], s)
			}
		}
	}

	// Headline: the WRX rows as accurate as hold-in-memory@32 (0.80) that
	// meet their targets hold 4.2, 3.3 and 4.0 MB; the least is 3.3 MB,
	// 100/3.3 = 30.3 times below. On the same requests it answers exactly
	// as hold-in-memory@32 does: [0, 0].
	h := j.Headline
	if h == nil || h.WRX == nil {
		t.Fatalf("headline %+v, want one", h)
	}
	if h.Reference.Label != "hold-in-memory@32" || h.Reference.ModelRSSBytes != 100e6 || h.WRX.Label != "wrx/optimal 2.00MB" ||
		h.TargetMS != 40 || h.WRX.ModelRSSBytes != 3.3e6 || !approx(h.Ratio, 100/3.3) {
		t.Errorf("headline %+v (WRX %+v), want wrx/optimal 2.00MB at 40ms, 3.3MB, ratio 30.3", h, h.WRX)
	}
	if d := h.Difference; d == nil || d.Estimate != 0 || d.Lo != 0 || d.Hi != 0 || d.N != 20 {
		t.Errorf("headline difference %+v, want 0 [0, 0] over 20", d)
	}
}

func approx(x, y float64) bool { return math.Abs(x-y) < 1e-9 }

// A report whose units did not run in processes of their own (or come from
// before the floor was measured) proves no budget: nothing fits.
func TestJudgeWithoutMeasuredRSS(t *testing.T) {
	r := verdictReport()
	for _, u := range r.Units {
		u.Isolated = false
	}
	r.Rescore()
	j := r.Judge()
	for _, v := range j.Verdicts {
		if (v.WRX != nil && (v.WRX.Qualifies() || v.WRXStatus != "RSS not measured")) || v.Baseline != nil || v.Outcome != "nothing qualifies" {
			t.Errorf("%v ms %d: WRX %+v (%s), baseline %+v, %q; want nothing to qualify", v.TargetMS, v.BudgetBytes, v.WRX, v.WRXStatus, v.Baseline, v.Outcome)
		}
		for _, c := range v.Baselines {
			if !strings.HasPrefix(c.Status(), "RSS not measured") {
				t.Errorf("%s: %q, want RSS not measured", c.Label, c.Status())
			}
		}
	}
	if h := j.Headline; h == nil || h.WRX != nil || h.Ratio != 0 {
		t.Errorf("headline %+v, want no WRX row", h)
	}
}

// The verdicts reach results.md and verdicts.json, and a report read back
// without its units (an old directory) keeps its verdicts, without
// differences.
func TestVerdictFiles(t *testing.T) {
	r := verdictReport()
	dir := t.TempDir()
	if err := r.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"**Headline**", "in 3.30MB of model RSS (over that budget's limit), 30.3× below hold-in-memory@32's 100.00MB",
		"| 10 | 4.00MB | 5.25MB | 0.9000 (wrx/optimal 4.00MB, p95 5.0, 4.20MB) | 0.7000 (quantized-hold@4, p95 6.0, 3.50MB) | +0.2000 [+0.0500, +0.4000] (n 20) | WRX more accurate |",
		"| 40 | 2.00MB | 3.15MB | 0.8000 (wrx/optimal 2.00MB, p95 20.0, 3.30MB): does not fit | 0.5000 (quantized-hold@2, p95 5.0, 3.15MB) | +0.3000 [+0.1000, +0.5000] (n 20) | only baselines qualify (WRX does not fit: more accurate) |",
		"does not fit, misses target", "| model RSS | |",
	} {
		if !strings.Contains(string(md), s) {
			t.Errorf("results.md lacks %q:\n%s", s, md)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, VerdictsFile))
	if err != nil {
		t.Fatal(err)
	}
	var j Judgement
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if len(j.Verdicts) != 4 || j.Verdicts[1].Difference == nil || j.Verdicts[1].Difference.Lo != 0.05 {
		t.Errorf("verdicts.json: %s", b)
	}

	if err := os.Remove(filepath.Join(dir, UnitsFile)); err != nil {
		t.Fatal(err)
	}
	back, err := ReadReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	j2 := back.Judge()
	if len(j2.Verdicts) != 4 || j2.Verdicts[1].Baseline == nil || j2.Verdicts[1].Difference != nil ||
		j2.Verdicts[1].Outcome != "both qualify; no requests to compare" {
		t.Errorf("without units: %+v", j2.Verdicts[1])
	}
	var buf bytes.Buffer
	back.Markdown(&buf)
	if !strings.Contains(buf.String(), "both qualify; no requests to compare") {
		t.Errorf("Markdown without units:\n%s", buf.String())
	}
}

// The allowance the verdicts use is units.BudgetAllowance: 1 MiB + 5%.
func TestVerdictLimitIsTheAllowance(t *testing.T) {
	for _, b := range []int64{2e6, 4e6, 8e6, 16e6, 128e6} {
		v := (&Report{}).verdictAt(10, b)
		if want := b + 1<<20 + b/20; v.LimitBytes != want || v.LimitBytes != b+units.BudgetAllowance(b) {
			t.Errorf("budget %d: limit %d, want %d", b, v.LimitBytes, want)
		}
	}
}
