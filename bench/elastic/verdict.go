package elasticbench

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/wrxlabs/wrx/internal/stats"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/quant"
)

// VerdictsFile is where WriteFiles writes the Judgement.
const VerdictsFile = "verdicts.json"

// Bootstrap settings of the accuracy differences: BootstrapResamples
// resamples of the paired requests, seeded with BootstrapSeed, for a
// BootstrapLevel percentile interval.
const (
	BootstrapResamples = 10000
	BootstrapSeed      = 1
	BootstrapLevel     = 0.95
)

// Judgement is what the report concludes from the rows and the requests:
// the memory headline and the verdict at every (target, budget).
type Judgement struct {
	Headline *Headline `json:"headline,omitempty"`
	Verdicts []Verdict `json:"verdicts"`
}

// Contender is one mode's row as a verdict or the headline sees it.
type Contender struct {
	// Label names the row (Row.Label).
	Label    string  `json:"label"`
	Accuracy float64 `json:"accuracy"`
	P95MS    float64 `json:"p95_ms"`
	// ModelRSSBytes is the row's measured model memory (Row.ModelRSSBytes);
	// RSSMeasured says whether it was measured (a unit of its own process,
	// with its runtime floor).
	ModelRSSBytes int64 `json:"model_rss_bytes"`
	RSSMeasured   bool  `json:"rss_measured"`
	// Meets is Row.MeetsTarget; Fits says whether the measured model RSS
	// is within the budget and its allowance (units.FitsBudget).
	Meets bool `json:"meets_target"`
	Fits  bool `json:"fits_budget"`
}

// Qualifies reports whether c both meets the target and fits the budget.
func (c *Contender) Qualifies() bool { return c.Meets && c.Fits }

// Status says in words why c does or does not qualify: "qualifies", "does
// not fit", "misses target", both, or "RSS not measured".
func (c *Contender) Status() string {
	var why []string
	switch {
	case !c.RSSMeasured:
		why = append(why, "RSS not measured")
	case !c.Fits:
		why = append(why, "does not fit")
	}
	if !c.Meets {
		why = append(why, "misses target")
	}
	if len(why) == 0 {
		return "qualifies"
	}
	return strings.Join(why, ", ")
}

// Verdict compares, at one target and memory budget, WRX's most accurate
// row that meets the target and fits the budget against the most accurate
// baseline that does, on the same requests.
type Verdict struct {
	TargetMS    float64 `json:"target_ms"`
	BudgetBytes int64   `json:"budget_bytes"`
	// LimitBytes is the most model RSS that fits: the budget plus
	// units.BudgetAllowance of it.
	LimitBytes int64 `json:"limit_bytes"`
	// WRX is WRX's most accurate qualifying row (ties: the least model
	// RSS); when none qualifies, its most accurate row that meets the
	// target but does not fit the budget (WRX.Fits is false); nil when no
	// WRX row meets the target. WRXStatus is the row's Status, or why no
	// row meets the target.
	WRX       *Contender `json:"wrx,omitempty"`
	WRXStatus string     `json:"wrx_status"`
	// Baseline is the most accurate qualifying baseline (ties: the least
	// model RSS), nil when none qualifies.
	Baseline *Contender `json:"baseline,omitempty"`
	// Difference is WRX's accuracy minus Baseline's on the requests both
	// answered (the paired requests; for a streaming baseline timed on a
	// prefix, hold-in-memory's answers at its fidelity, which it was
	// checked to compute), with a paired bootstrap interval. Nil unless
	// both are set and the requests are in the report.
	Difference *stats.Interval `json:"difference,omitempty"`
	// Baselines lists every baseline at this target and budget.
	Baselines []Contender `json:"baselines"`
	// Outcome sums the verdict up in words.
	Outcome string `json:"outcome"`
}

// Headline is the memory ratio of the report, by measured model RSS: the
// least model RSS of a WRX row that meets its target with at least the
// reference's accuracy, against the reference, hold-in-memory at its
// highest fidelity.
type Headline struct {
	// Reference is hold-in-memory at its highest fidelity; its Meets and
	// Fits are not set (no one target or budget applies).
	Reference Contender `json:"reference"`
	// WRX is the row; nil when no WRX row that meets its target is as
	// accurate as the reference with a measured model RSS.
	WRX      *Contender `json:"wrx,omitempty"`
	TargetMS float64    `json:"target_ms,omitempty"`
	// Ratio is Reference.ModelRSSBytes / WRX.ModelRSSBytes.
	Ratio float64 `json:"ratio,omitempty"`
	// Difference is WRX's accuracy minus the reference's on the same
	// requests, with its paired bootstrap interval.
	Difference *stats.Interval `json:"difference,omitempty"`
}

// Judge computes the report's headline and verdicts from its rows and, for
// the accuracy differences, its units' requests (a report without units
// gets no differences).
func (r *Report) Judge() *Judgement {
	j := &Judgement{Verdicts: []Verdict{}}
	type key struct {
		t float64
		b int64
	}
	var keys []key
	for i := range r.Rows {
		row := &r.Rows[i]
		if k := (key{row.TargetMS, row.BudgetBytes}); row.Mode == ModeWRX && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.b, b.b)) })
	for _, k := range keys {
		j.Verdicts = append(j.Verdicts, r.verdictAt(k.t, k.b))
	}
	j.Headline = r.headline()
	return j
}

// contender describes row against budget b.
func contender(row *Row, b int64) Contender {
	measured := row.RSSIsolated && row.FloorRSSBytes > 0
	return Contender{
		Label: row.Label(), Accuracy: row.Accuracy, P95MS: row.P95MS,
		ModelRSSBytes: row.ModelRSSBytes, RSSMeasured: measured,
		Meets: row.MeetsTarget, Fits: measured && units.FitsBudget(row.ModelRSSBytes, b),
	}
}

// better reports whether c beats best: more accurate, or as accurate in
// less model memory.
func better(c, best *Contender) bool {
	return best == nil || c.Accuracy > best.Accuracy || c.Accuracy == best.Accuracy && c.ModelRSSBytes < best.ModelRSSBytes
}

func (r *Report) verdictAt(t float64, b int64) Verdict {
	v := Verdict{TargetMS: t, BudgetBytes: b, LimitBytes: b + units.BudgetAllowance(b), Baselines: []Contender{}}
	var wrxRow, baseRow, overRow *Row
	var wrxAll []Contender
	var over *Contender
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.TargetMS != t {
			continue
		}
		c := contender(row, b)
		switch {
		case row.Mode != ModeWRX:
			v.Baselines = append(v.Baselines, c)
			if c.Qualifies() && better(&c, v.Baseline) {
				v.Baseline, baseRow = &c, row
			}
		case row.BudgetBytes == b:
			wrxAll = append(wrxAll, c)
			switch {
			case c.Qualifies() && better(&c, v.WRX):
				v.WRX, wrxRow = &c, row
			case c.Meets && !c.Fits && better(&c, over):
				over, overRow = &c, row
			}
		}
	}
	if v.WRX == nil && over != nil {
		v.WRX, wrxRow = over, overRow
	}
	switch {
	case v.WRX != nil:
		v.WRXStatus = v.WRX.Status()
	case len(wrxAll) == 0:
		v.WRXStatus = "not measured"
	default:
		v.WRXStatus = "misses target"
	}
	if v.WRX != nil && v.Baseline != nil {
		v.Difference = r.difference(wrxRow, baseRow)
	}
	wrxOK := v.WRX != nil && v.WRX.Qualifies()
	switch {
	case !wrxOK && v.Baseline == nil:
		v.Outcome = "nothing qualifies"
	case !wrxOK:
		v.Outcome = "only baselines qualify"
	case v.Baseline == nil:
		v.Outcome = "only WRX qualifies"
	case v.Difference == nil:
		v.Outcome = "both qualify; no requests to compare"
	default:
		v.Outcome = describe(v.Difference, "WRX", "the baseline")
	}
	if v.WRX != nil && !wrxOK && v.Difference != nil {
		// WRX meets the target but does not qualify: say how it
		// compares all the same.
		v.Outcome += " (WRX " + v.WRX.Status() + ": " + compare(v.Difference) + ")"
	}
	return v
}

// describe says which of a and b the interval of a − b favours at its
// level.
func describe(d *stats.Interval, a, b string) string {
	switch {
	case d.Lo > 0:
		return a + " more accurate"
	case d.Hi < 0:
		return b + " more accurate"
	}
	return "no significant difference"
}

// compare says whether the interval of a − b is above 0, below it, or
// neither.
func compare(d *stats.Interval) string {
	switch {
	case d.Lo > 0:
		return "more accurate"
	case d.Hi < 0:
		return "less accurate"
	}
	return "no significant difference"
}

// headline finds the report's memory headline; nil without a
// hold-in-memory row.
func (r *Report) headline() *Headline {
	var ref *Row
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.Mode == ModeHoldInMemory && (ref == nil || row.Fidelity > ref.Fidelity) {
			ref = row
		}
	}
	if ref == nil {
		return nil
	}
	h := &Headline{Reference: contender(ref, 0)}
	h.Reference.Meets, h.Reference.Fits = false, false // meaningless here
	var best *Row
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.Mode != ModeWRX || !row.MeetsTarget || row.Accuracy < ref.Accuracy || !(row.RSSIsolated && row.FloorRSSBytes > 0) {
			continue
		}
		if best == nil || row.ModelRSSBytes < best.ModelRSSBytes || row.ModelRSSBytes == best.ModelRSSBytes && row.Accuracy > best.Accuracy {
			best = row
		}
	}
	if best == nil {
		return h
	}
	c := contender(best, best.BudgetBytes)
	h.WRX, h.TargetMS = &c, best.TargetMS
	if best.ModelRSSBytes > 0 && h.Reference.RSSMeasured {
		h.Ratio = float64(ref.ModelRSSBytes) / float64(best.ModelRSSBytes)
	}
	h.Difference = r.difference(best, ref)
	return h
}

// difference is the paired bootstrap interval of the accuracy of row a
// minus that of row b, on the requests both answered; nil when the report
// has not the requests of both.
func (r *Report) difference(a, b *Row) *stats.Interval {
	sa, sb := r.requestsOf(a), r.requestsOf(b)
	if sa == nil || sb == nil {
		return nil
	}
	right := make(map[int]float64, len(sb))
	for _, s := range sb {
		right[s.Line] = correct(s)
	}
	var x, y []float64
	for _, s := range sa {
		if c, ok := right[s.Line]; ok {
			x, y = append(x, correct(s)), append(y, c)
		}
	}
	iv, err := stats.PairedBootstrap(x, y, stats.BootstrapOptions{Resamples: BootstrapResamples, Seed: BootstrapSeed, Level: BootstrapLevel})
	if err != nil {
		return nil // no requests in common
	}
	return &iv
}

func correct(s Sample) float64 {
	if !s.Refused && s.Pred == s.Label {
		return 1
	}
	return 0
}

// requestsOf returns the requests a row's accuracy is over: its unit's,
// or, for a baseline whose accuracy is hold-in-memory's at its fidelity
// (a streaming baseline timed on a prefix that computed the same labels),
// hold-in-memory's. Nil when the report lacks the unit.
func (r *Report) requestsOf(row *Row) []Sample {
	find := func(m Mode, f quant.Fidelity) *UnitResult {
		for _, u := range r.Units {
			if u.Unit.Mode == m && u.Unit.Fidelity == f {
				return u
			}
		}
		return nil
	}
	if row.Mode == ModeWRX {
		for _, u := range r.Units {
			if u.Unit.Mode == ModeWRX && u.Unit.Planner == row.Planner && u.Unit.Budget == row.BudgetBytes && ms(u.Unit.Target) == row.TargetMS {
				return u.Samples
			}
		}
		return nil
	}
	u := find(row.Mode, row.Fidelity)
	if u == nil {
		return nil
	}
	if ref := find(ModeHoldInMemory, row.Fidelity); ref != nil && ref != u && row.N == len(ref.Samples) && row.N > len(u.Samples) {
		return ref.Samples
	}
	return u.Samples
}

// judgementMarkdown writes the headline and the verdict tables.
func judgementMarkdown(w io.Writer, j *Judgement, synthetic bool) {
	if h := j.Headline; h != nil {
		fmt.Fprintf(w, "\n**Headline** (memory by measured model RSS: peak RSS minus the runtime floor, in processes of their own)")
		if synthetic {
			fmt.Fprint(w, "; random weights, so the accuracy condition means nothing")
		}
		fmt.Fprint(w, ": ")
		ref := &h.Reference
		refRSS := "not measured"
		if ref.RSSMeasured {
			refRSS = units.FormatBytes(ref.ModelRSSBytes)
		}
		switch {
		case h.WRX == nil:
			fmt.Fprintf(w, "no WRX row that meets its target, with a measured model RSS, reaches %s's accuracy %.4f (model RSS %s).\n", ref.Label, ref.Accuracy, refRSS)
		default:
			fmt.Fprintf(w, "WRX reaches %s's accuracy (%.4f) at %.4g ms with %.4f (%s) in %s of model RSS", ref.Label, ref.Accuracy, h.TargetMS, h.WRX.Accuracy, h.WRX.Label, units.FormatBytes(h.WRX.ModelRSSBytes))
			if !h.WRX.Fits {
				fmt.Fprint(w, " (over that budget's limit)")
			}
			if h.Ratio > 0 {
				fmt.Fprintf(w, ", %.1f× below %s's %s", h.Ratio, ref.Label, refRSS)
			} else {
				fmt.Fprintf(w, "; %s's is %s", ref.Label, refRSS)
			}
			if d := h.Difference; d != nil {
				fmt.Fprintf(w, "; accuracy difference %s on %d paired requests", formatInterval(d), d.N)
			}
			fmt.Fprintln(w, ".")
		}
	}
	if len(j.Verdicts) == 0 {
		return
	}
	fmt.Fprintf(w, "\n**Per target and budget** (the budget is total: model RSS, measured, within budget + 1 MiB + 5%% of it, the limit; "+
		"a mode qualifies when it also meets the target). WRX's most accurate qualifying row against the most accurate qualifying baseline; "+
		"the difference is WRX's accuracy minus the baseline's on the same requests, with a paired bootstrap %.0f%% interval (%d resamples, seed %d).\n\n",
		100*BootstrapLevel, BootstrapResamples, BootstrapSeed)
	fmt.Fprintln(w, "| target ms | budget | limit | WRX | best baseline that fits and meets | WRX − baseline [95% CI] | verdict |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | --- | --- | --- | --- |")
	for i := range j.Verdicts {
		v := &j.Verdicts[i]
		wrx, base, diff := v.WRXStatus, "none", ""
		if c := v.WRX; c != nil {
			wrx = fmt.Sprintf("%.4f (%s, p95 %.1f, %s)", c.Accuracy, c.Label, c.P95MS, units.FormatBytes(c.ModelRSSBytes))
			if !c.Qualifies() {
				wrx += ": " + c.Status()
			}
		}
		if c := v.Baseline; c != nil {
			base = fmt.Sprintf("%.4f (%s, p95 %.1f, %s)", c.Accuracy, c.Label, c.P95MS, units.FormatBytes(c.ModelRSSBytes))
		}
		if d := v.Difference; d != nil {
			diff = fmt.Sprintf("%s (n %d)", formatInterval(d), d.N)
		}
		fmt.Fprintf(w, "| %.4g | %s | %s | %s | %s | %s | %s |\n", v.TargetMS, units.FormatBytes(v.BudgetBytes), units.FormatBytes(v.LimitBytes), wrx, base, diff, v.Outcome)
	}

	// Every baseline at every (target, budget).
	var labels []string
	for _, c := range j.Verdicts[0].Baselines {
		labels = append(labels, c.Label)
	}
	if len(labels) == 0 {
		return
	}
	fmt.Fprintf(w, "\n**Baselines at each target and budget**: qualifies, does not fit (model RSS over the limit), misses target, or RSS not measured.\n\n")
	fmt.Fprintf(w, "| target ms | budget |")
	for _, l := range labels {
		fmt.Fprintf(w, " %s |", l)
	}
	fmt.Fprintf(w, "\n| ---: | ---: |%s\n", strings.Repeat(" --- |", len(labels)))
	fmt.Fprint(w, "| model RSS | |")
	for _, c := range j.Verdicts[0].Baselines {
		rss := "not measured"
		if c.RSSMeasured {
			rss = units.FormatBytes(c.ModelRSSBytes)
		}
		fmt.Fprintf(w, " %s |", rss)
	}
	fmt.Fprintln(w)
	for i := range j.Verdicts {
		v := &j.Verdicts[i]
		fmt.Fprintf(w, "| %.4g | %s |", v.TargetMS, units.FormatBytes(v.BudgetBytes))
		for _, l := range labels {
			cell := ""
			for _, c := range v.Baselines {
				if c.Label == l {
					cell = c.Status()
				}
			}
			fmt.Fprintf(w, " %s |", cell)
		}
		fmt.Fprintln(w)
	}
}

// formatInterval prints a difference of accuracies and its interval, e.g.
// "+0.0115 [-0.0034, +0.0264]".
func formatInterval(d *stats.Interval) string {
	return fmt.Sprintf("%+.4f [%+.4f, %+.4f]", d.Estimate, d.Lo, d.Hi)
}
