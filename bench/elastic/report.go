package elasticbench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/internal/units"
)

// The files WriteFiles writes into its directory.
const (
	ResultsFile  = "results.json"  // []Row
	MetaFile     = "meta.json"     // Meta
	PlannersFile = "planners.json" // []PlannerRow, with several planners
	UnitsFile    = "units.json"    // []*UnitResult, every request
	MarkdownFile = "results.md"    // the tables of Markdown
	AccuracyPNG  = "accuracy_vs_target.png"
	LatencyPNG   = "latency_vs_target.png"
	MemoryPNG    = "memory.png"
)

// WriteFiles writes the report into dir (created if needed): the rows as
// results.json, meta.json, planners.json when planners were compared,
// every request in units.json, the headline and the verdicts (Judge) in
// verdicts.json, the tables as results.md, and the plots.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	j := r.Judge()
	files := []struct {
		name string
		v    any
	}{{ResultsFile, r.Rows}, {MetaFile, r.Meta}, {UnitsFile, r.Units}, {VerdictsFile, j}}
	if len(r.Planners) > 0 {
		files = append(files, struct {
			name string
			v    any
		}{PlannersFile, r.Planners})
	}
	for _, f := range files {
		if err := writeJSON(filepath.Join(dir, f.name), f.v); err != nil {
			return err
		}
	}
	md, err := os.Create(filepath.Join(dir, MarkdownFile))
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	r.markdown(md, j)
	if err := md.Close(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return r.Plots(dir)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encoding %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// Markdown writes the report's tables: the setup, the baselines, WRX at
// every target and budget, a per-target verdict, the streaming baselines'
// accuracy checks, the memory headline and the verdict at every (target,
// budget) (Judge) and, with several planners, their comparison.
func (r *Report) Markdown(w io.Writer) {
	r.markdown(w, r.Judge())
}

func (r *Report) markdown(w io.Writer, j *Judgement) {
	m := &r.Meta
	fmt.Fprintf(w, "Store `%s` (model %s), %s on %d examples of `%s`; backend %s, GOMAXPROCS %d; throttle %s; direct IO %v.\n",
		m.Store, m.Model, m.Task, m.N, m.Data, m.Backend, m.GOMAXPROCS, m.Throttle, m.DirectIO)
	if m.StreamThreads > 0 {
		fmt.Fprintf(w, "wrx and layerwise-pipeline compute on %d thread(s), leaving the rest to their IO goroutine; the other modes on %d.\n", m.StreamThreads, m.GOMAXPROCS)
	}
	if m.IO != nil {
		fmt.Fprintf(w, "Reads: profile %s + %v per read, re-measured %s + %v; the planner used the %s values.\n",
			units.FormatBandwidth(m.IO.ProfileBandwidth), m.IO.ProfileLatency.Round(time.Microsecond),
			units.FormatBandwidth(m.IO.MeasuredBandwidth), m.IO.MeasuredLatency.Round(time.Microsecond), m.IO.Used)
	}
	if m.TargetsAuto {
		if m.AutoTargetAccepted > 0 {
			fmt.Fprintf(w, "Targets (automatic): %.3g ms (%.2g × %.3g ms, the smallest the planner accepts for every request at every budget; lengths up to %d tokens, median %d) to %.4g ms (%s), log-spaced.\n",
				m.AutoTargetMin, m.AutoTargetMin/m.AutoTargetAccepted, m.AutoTargetAccepted, m.MaxTokens, m.MedianTokens, m.AutoTargetMax, m.AutoMaxSource)
		} else { // a report from before the longest-request rule
			fmt.Fprintf(w, "Targets (automatic): %.3g ms (smallest the planner accepts at the median length, %d tokens) to %.4g ms (%s), log-spaced.\n",
				m.AutoTargetMin, m.MedianTokens, m.AutoTargetMax, m.AutoMaxSource)
		}
	}
	fmt.Fprintf(w, "Load average at start %s, at end %s; %.0f s in all.\n", m.LoadStart, m.LoadEnd, m.Seconds)
	for _, n := range m.Notes {
		fmt.Fprintf(w, "Note: %s.\n", n)
	}

	fmt.Fprintf(w, "\n**Baselines** (independent of target and budget)\n\n")
	fmt.Fprintln(w, "| mode | accuracy | n timed | p50 ms | p95 ms | max ms | peak weights | peak RSS | model RSS | IO/request |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	seen := map[string]bool{}
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.Mode == ModeWRX || seen[row.Label()] {
			continue
		}
		seen[row.Label()] = true
		acc := fmt.Sprintf("%.4f", row.Accuracy)
		if row.N != row.NTimed {
			acc += "†"
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.1f | %.1f | %.1f | %s | %s | %s | %s |\n", row.Label(), acc, row.NTimed,
			row.P50MS, row.P95MS, row.MaxMS, units.FormatBytes(row.PeakWeightBytes), units.FormatBytes(row.PeakRSSBytes),
			units.FormatBytes(row.ModelRSSBytes), units.FormatBytes(int64(row.MeanIOBytes)))
	}
	for _, c := range m.Checks {
		fmt.Fprintf(w, "\n† %s@%d computes what %s computes: predicted labels agree on %d of %d requests (equal: %v).",
			c.Mode, int(c.Fidelity), c.Reference, c.Agree, c.Compared, c.Equal)
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "\n**WRX** (meets = p95 ≤ target and ≤ %.0f%% misses)\n\n", 100*MaxMissRate)
	fmt.Fprintln(w, "| target ms | budget | planner | accuracy | p50 ms | p95 ms | max ms | miss | meets | refused | peak weights | bound | peak RSS | model RSS | IO/request | pred. loss | gap | plan ms | pred. p50 ms | meas./pred. |")
	fmt.Fprintln(w, "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.Mode != ModeWRX {
			continue
		}
		fmt.Fprintf(w, "| %.4g | %s | %s | %.4f | %.1f | %.1f | %.1f | %.1f%% | %s | %d | %s | %s | %s | %s | %s | %.3g | %.1f%% | %.2f | %.1f | %.2f |\n",
			row.TargetMS, units.FormatBytes(row.BudgetBytes), row.Planner, row.Accuracy, row.P50MS, row.P95MS, row.MaxMS,
			100*row.MissRate, yesNo(row.MeetsTarget), row.Refused, units.FormatBytes(row.PeakWeightBytes),
			units.FormatBytes(row.WeightBoundBytes), units.FormatBytes(row.PeakRSSBytes), units.FormatBytes(row.ModelRSSBytes), units.FormatBytes(int64(row.MeanIOBytes)), row.PredictedLoss, 100*row.Gap, row.PlanMS,
			row.PredictedP50MS, row.Overrun)
	}

	r.verdict(w)
	judgementMarkdown(w, j, m.Synthetic)
	if len(r.Planners) > 0 {
		r.plannerTable(w)
	}
}

// verdict writes, per target, the best WRX row that meets it and what each
// baseline does there.
func (r *Report) verdict(w io.Writer) {
	var base []string
	targets := []float64{}
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.Mode != ModeWRX && !slices.Contains(base, row.Label()) {
			base = append(base, row.Label())
		}
		if !slices.Contains(targets, row.TargetMS) {
			targets = append(targets, row.TargetMS)
		}
	}
	slices.Sort(targets)
	fmt.Fprintf(w, "\n**Per target**: WRX's most accurate row that meets the target, and each baseline's accuracy where it meets it (miss: its p95 or miss rate is over).\n\n")
	fmt.Fprintf(w, "| target ms | WRX |")
	for _, b := range base {
		fmt.Fprintf(w, " %s |", b)
	}
	fmt.Fprintf(w, "\n| ---: | --- |%s\n", strings.Repeat(" --- |", len(base)))
	for _, t := range targets {
		var best *Row
		cells := map[string]string{}
		for i := range r.Rows {
			row := &r.Rows[i]
			if row.TargetMS != t {
				continue
			}
			if row.Mode != ModeWRX {
				if row.MeetsTarget {
					cells[row.Label()] = fmt.Sprintf("%.4f", row.Accuracy)
				} else {
					cells[row.Label()] = fmt.Sprintf("miss (p95 %.1f)", row.P95MS)
				}
				continue
			}
			if row.MeetsTarget && (best == nil || row.Accuracy > best.Accuracy) {
				best = row
			}
		}
		wrx := "none meets it"
		if best != nil {
			wrx = fmt.Sprintf("%.4f (%s, p95 %.1f, model RSS %s)", best.Accuracy, best.Label(), best.P95MS, units.FormatBytes(best.ModelRSSBytes))
		}
		fmt.Fprintf(w, "| %.4g | %s |", t, wrx)
		for _, b := range base {
			fmt.Fprintf(w, " %s |", cells[b])
		}
		fmt.Fprintln(w)
	}
}

func (r *Report) plannerTable(w io.Writer) {
	var names []plan.Strategy
	for _, p := range r.Planners {
		for s := range p.Planners {
			if !slices.Contains(names, s) {
				names = append(names, s)
			}
		}
	}
	slices.Sort(names)
	fmt.Fprintf(w, "\n**Planners on the same requests** (predicted loss: mean over requests of the plan's summed per-shard KL)\n\n| budget | target ms |")
	for _, n := range names {
		fmt.Fprintf(w, " %s loss | %s acc | %s p95 | %s miss |", n, n, n, n)
	}
	fmt.Fprintf(w, "\n| ---: | ---: |%s\n", strings.Repeat(" ---: |", 4*len(names)))
	for _, p := range r.Planners {
		fmt.Fprintf(w, "| %s | %.4g |", units.FormatBytes(p.BudgetBytes), p.TargetMS)
		for _, n := range names {
			s, ok := p.Planners[n]
			if !ok {
				fmt.Fprint(w, " | | | |")
				continue
			}
			fmt.Fprintf(w, " %.3g | %.4f | %.1f | %.1f%% |", s.PredictedLoss, s.Accuracy, s.P95MS, 100*s.MissRate)
		}
		fmt.Fprintln(w)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ReadReport reads back a report WriteFiles wrote into dir, so that its
// tables and plots can be rendered again.
func ReadReport(dir string) (*Report, error) {
	r := &Report{}
	for _, f := range []struct {
		name     string
		v        any
		optional bool
	}{{MetaFile, &r.Meta, false}, {ResultsFile, &r.Rows, false}, {PlannersFile, &r.Planners, true}, {UnitsFile, &r.Units, true}} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if errors.Is(err, fs.ErrNotExist) && f.optional {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		if err := json.Unmarshal(b, f.v); err != nil {
			return nil, fmt.Errorf("bench: %s: %w", filepath.Join(dir, f.name), err)
		}
	}
	return r, nil
}
