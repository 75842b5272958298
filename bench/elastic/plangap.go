package elasticbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/internal/stats"
	"github.com/wrxlabs/wrx/shardstore"
)

// PlanGapOptions configures PlanGap. Setup is required.
type PlanGapOptions struct {
	// Setup names the store and backend; its throttle is the device the
	// planner plans for.
	Setup Setup
	// Budgets and SeqLens span the grid; Targets is how many targets, log
	// spaced from 1.1 × the smallest the planner accepts (at the largest
	// budget, length 32) to the time of streaming the fp32 model.
	Budgets []int64
	SeqLens []int
	Targets int
	// InFlight is the executor's buffer K; 0 means plan.DefaultInFlight.
	InFlight int
	// LossTolerance is the planners' plan.Options.LossTolerance: 0 means
	// the default, with which a plan may be up to that many nats worse
	// than the best found when it reads fewer bytes; negative plans for
	// the least loss alone.
	LossTolerance float64
}

// PlanGapRow is one strategy's gaps over the grid.
type PlanGapRow struct {
	Planner plan.Strategy `json:"planner"`
	N       int           `json:"n"`
	// Gaps are Plan.Gap over the grid; Within1 counts those ≤ 1%.
	Mean, Median, P90, Max float64
	Within1                int `json:"within_1pct"`
	// AbsMedian and AbsMax are the gaps in nats (predicted loss − bound).
	// WithinTolerance counts the plans within 1% of the bound or within
	// plan.DefaultLossTolerance nats of it: losses that close the
	// planner counts as equal (and no accuracy measured tells apart).
	AbsMedian, AbsMax float64
	WithinTolerance   int `json:"within_tolerance"`
	// PlanShare is the planning time (without the bound) over the target,
	// median and largest.
	PlanShareMedian, PlanShareMax float64
}

// PlanGap plans a grid of requests (target, budget, length, each planner)
// with the store's profiles and reports each planner's gap to the lower
// bound on the loss of any plan for the request (plan.LowerBound), and its
// planning time as a share of the target.
func PlanGap(ctx context.Context, opts PlanGapOptions) ([]PlanGapRow, error) {
	if len(opts.Budgets) == 0 || len(opts.SeqLens) == 0 || opts.Targets < 1 {
		return nil, errors.New("plan gap: need budgets, lengths and at least one target")
	}
	s, _, prof, err := openProfiled(ctx, opts.Setup)
	if err != nil {
		return nil, fmt.Errorf("plan gap: %w", err)
	}
	defer s.Close()
	full, err := plan.Full(prof.Geometry, slices.Max(prof.Geometry.Bits))
	if err != nil {
		return nil, err
	}
	var hi time.Duration
	for _, r := range full.IO {
		hi += prof.Device.ReadTime(r.Bytes)
	}
	var rows []PlanGapRow
	for _, strat := range plan.Strategies() {
		pl, err := plan.New(prof, plan.Options{Strategy: strat, InFlight: opts.InFlight, LossTolerance: opts.LossTolerance})
		if err != nil {
			return nil, err
		}
		row := PlanGapRow{Planner: strat}
		var gaps, abs, shares []float64
		lo, err := plan.MinTarget(pl, slices.Max(opts.Budgets), 32)
		if err != nil {
			return nil, err
		}
		lo = lo * 11 / 10
		for i := range opts.Targets {
			target := lo
			if opts.Targets > 1 {
				target = time.Duration(float64(lo) * math.Pow(float64(max(hi, lo))/float64(lo), float64(i)/float64(opts.Targets-1)))
			}
			for _, budget := range opts.Budgets {
				pre, err := pl.Preload(target, budget)
				if err != nil {
					return nil, err
				}
				for _, n := range opts.SeqLens {
					req := plan.Request{Target: target, Budget: budget, SeqLen: n, Preload: pre}
					el := time.Duration(math.MaxInt64)
					var p *plan.Plan
					for range 3 { // the least of three: the machine may be busy
						t0 := time.Now()
						p, err = pl.Plan(req)
						el = min(el, time.Since(t0))
					}
					if errors.Is(err, plan.ErrDeadline) {
						continue
					}
					if err != nil {
						return nil, err
					}
					lb, err := plan.LowerBound(prof, p)
					if err != nil {
						return nil, err
					}
					p.LossBound = &lb
					gaps = append(gaps, p.Gap())
					abs = append(abs, max(0, p.PredictedLoss-lb))
					shares = append(shares, float64(el)/float64(target))
				}
			}
		}
		row.N = len(gaps)
		if row.N == 0 {
			rows = append(rows, row)
			continue
		}
		for i, g := range gaps {
			row.Mean += g / float64(len(gaps))
			if g <= 0.01 {
				row.Within1++
			}
			if g <= 0.01 || abs[i] <= plan.DefaultLossTolerance {
				row.WithinTolerance++
			}
		}
		row.AbsMedian, row.AbsMax = stats.Median(abs), slices.Max(abs)
		row.Median, row.P90, row.Max = stats.Median(gaps), stats.Quantile(gaps, 0.9), slices.Max(gaps)
		row.PlanShareMedian, row.PlanShareMax = stats.Median(shares), slices.Max(shares)
		rows = append(rows, row)
	}
	return rows, nil
}

// PlanGapMarkdown writes PlanGap's rows as a table.
func PlanGapMarkdown(w io.Writer, rows []PlanGapRow) {
	fmt.Fprintln(w, "| planner | requests | gap mean | median | p90 | max | gap ≤ 1% | nats: median | max | ≤ 1% or ≤ tolerance | plan time / target: median | max |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %d | %.2f%% | %.2f%% | %.2f%% | %.2f%% | %d | %.2g | %.2g | %d | %.2f%% | %.2f%% |\n",
			r.Planner, r.N, 100*r.Mean, 100*r.Median, 100*r.P90, 100*r.Max, r.Within1, r.AbsMedian, r.AbsMax, r.WithinTolerance, 100*r.PlanShareMedian, 100*r.PlanShareMax)
	}
}

// openProfiled opens set's store through set's throttle, with WRX's
// backend (the profiles are WRX's: its backend computes on the stream
// threads), and loads its profiles for that throttle, for the commands
// that plan from the profiles. The store must be the throttled one:
// profile.LoadProfiles measures reads and word rows through it (opened
// unthrottled, a serial 0.5 ms device had word rows timed at 35 µs).
func openProfiled(ctx context.Context, set Setup) (*shardstore.Store, backend.Backend, *plan.Profiles, error) {
	s, _, err := openStore(ctx, &set)
	if err != nil {
		return nil, nil, nil, err
	}
	be, err := set.backend(ModeWRX)
	if err != nil {
		s.Close()
		return nil, nil, nil, err
	}
	prof, err := loadProfiles(ctx, s, be, &set)
	if err != nil {
		s.Close()
		return nil, nil, nil, err
	}
	return s, be, prof, nil
}
