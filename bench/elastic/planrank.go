package elasticbench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/glue"
	"github.com/wrxlabs/wrx/internal/stats"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// PlanRankOptions configures PlanRank. Setup and Examples are required.
type PlanRankOptions struct {
	// Setup names the store and backend; its throttle is the device the
	// planner plans for (the whole model is held in memory to run them).
	Setup    Setup
	Data     string
	Examples []glue.Example
	// Plans is how many distinct plans to draw; 0 means 30.
	Plans int
	// Seed draws the requests.
	Seed uint64
	// Progress, if set, is called after each plan is measured.
	Progress func(done, total int)
}

// PlanRankRow is one plan: the request it answers, its predicted loss
// (the additive model: the sum of its shard versions' profiled losses),
// and the measured divergence of its outputs from the full model's.
type PlanRankRow struct {
	// Request numbers the drawn request; the plans of one request are
	// the planners' answers to it.
	Request  int           `json:"request"`
	Planner  plan.Strategy `json:"planner"`
	TargetMS float64       `json:"target_ms"`
	Budget   int64         `json:"budget_bytes"`
	SeqLen   int           `json:"seq_len"`
	Shards   int           `json:"shards"`
	// PredictedLoss is plan.Plan.PredictedLoss; MeasuredKL the mean over
	// the examples of KL(p_full ‖ p_plan), the quantity the importance
	// profile measures per shard.
	PredictedLoss float64 `json:"predicted_loss"`
	MeasuredKL    float64 `json:"measured_kl"`
	// Agreement is the fraction of examples whose label equals the full
	// model's.
	Agreement float64 `json:"agreement"`
}

// PlanRankReport is the outcome of PlanRank.
type PlanRankReport struct {
	Store          string        `json:"store"`
	Data           string        `json:"data"`
	N              int           `json:"n"`
	ProfileSamples int           `json:"profile_samples"`
	Rows           []PlanRankRow `json:"rows"`
	// Spearman is the rank correlation between PredictedLoss and
	// MeasuredKL over Rows; Pearson the linear correlation of their logs.
	Spearman   float64 `json:"spearman"`
	PearsonLog float64 `json:"pearson_log"`
	// Ratio is the median of MeasuredKL / PredictedLoss: above 1 the
	// additive model underestimates the divergence of whole plans.
	Ratio float64 `json:"median_ratio"`
	// Pairs counts the requests with two different plans (one per
	// planner), Concordant those where the plan predicted to lose less
	// also measured less: the choice the planner makes.
	Pairs      int `json:"pairs"`
	Concordant int `json:"concordant"`
}

// PlanRank checks the planner's additive loss model on whole plans: it
// draws requests (target, budget, sequence length, planner) at random
// between the smallest target the planner accepts and the full model's
// predicted time, plans them with the store's profiles, and runs each
// distinct plan, with every version it uses held in memory, on the
// examples (which should be kept apart from the profiling data, e.g.
// SST-2 dev.tsv). It reports the mean KL divergence of each plan's label
// distribution from the full-fidelity model's and the rank correlation
// between predicted and measured loss.
func PlanRank(ctx context.Context, opts PlanRankOptions) (*PlanRankReport, error) {
	if len(opts.Examples) == 0 {
		return nil, errors.New("plan rank bench: no examples")
	}
	nPlans := opts.Plans
	if nPlans <= 0 {
		nPlans = 30
	}
	set := opts.Setup
	s, be, prof, err := openProfiled(ctx, set)
	if err != nil {
		return nil, fmt.Errorf("plan rank bench: %w", err)
	}
	defer s.Close()
	plans, reqs, err := drawPlans(prof, nPlans, opts.Seed)
	if err != nil {
		return nil, fmt.Errorf("plan rank bench: %w", err)
	}
	tok, err := s.Tokenizer()
	if err != nil {
		return nil, fmt.Errorf("plan rank bench: %w", err)
	}
	encs, err := encodeAll(tok, opts.Examples, set.maxLen())
	if err != nil {
		return nil, fmt.Errorf("plan rank bench: %s: %w", opts.Data, err)
	}
	ex, err := pipeline.NewExecutor(ctx, s, be, pipeline.ExecOptions{})
	if err != nil {
		return nil, fmt.Errorf("plan rank bench: %w", err)
	}
	full := slices.Max(s.Manifest().Fidelities)
	// Hold every version any plan runs, and the full model.
	keys := map[shardstore.Key]bool{}
	add := func(l, h int, bits quant.Fidelity) {
		keys[pipeline.Key(l, h, plan.Attention, bits)] = true
		keys[pipeline.Key(l, h, plan.FFN, bits)] = true
	}
	cfg := s.Config()
	for l := range cfg.Layers {
		for h := range cfg.Heads {
			add(l, h, full)
		}
	}
	for _, p := range plans {
		for _, lp := range p.Layers {
			for _, c := range lp.Shards {
				add(lp.Layer, c.Head, c.Bits)
			}
		}
	}
	var keyList []shardstore.Key
	for k := range keys {
		keyList = append(keyList, k)
	}
	slices.SortFunc(keyList, func(a, b shardstore.Key) int { return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	if err := ex.SetPreload(ctx, keyList); err != nil {
		return nil, fmt.Errorf("plan rank bench: %w", err)
	}
	run := func(layers []plan.LayerPlan) ([][]float64, error) {
		sched := &plan.Plan{Layers: make([]plan.LayerPlan, len(layers))}
		for l, lp := range layers {
			sched.Layers[l] = plan.LayerPlan{Layer: l, Shards: []plan.ShardChoice{}}
			for _, c := range lp.Shards {
				sched.Layers[l].Shards = append(sched.Layers[l].Shards, plan.ShardChoice{Head: c.Head, Bits: c.Bits, Preloaded: true})
			}
		}
		out := make([][]float64, len(encs))
		for i, e := range encs {
			logits, _, err := ex.Run(ctx, sched, e.InputIDs, e.TokenTypeIDs)
			if err != nil {
				return nil, fmt.Errorf("plan rank bench: line %d: %w", opts.Examples[i].Line, err)
			}
			out[i] = stats.LogSoftmax(logits)
		}
		return out, nil
	}
	fullLayers := make([]plan.LayerPlan, cfg.Layers)
	for l := range fullLayers {
		fullLayers[l].Layer = l
		for h := range cfg.Heads {
			fullLayers[l].Shards = append(fullLayers[l].Shards, plan.ShardChoice{Head: h, Bits: full})
		}
	}
	ref, err := run(fullLayers)
	if err != nil {
		return nil, err
	}
	rep := &PlanRankReport{Store: set.Store, Data: opts.Data, N: len(encs), ProfileSamples: prof.Importance.Samples}
	for i, p := range plans {
		out, err := run(p.Layers)
		if err != nil {
			return nil, err
		}
		row := PlanRankRow{Request: reqs[i], Planner: p.Strategy, TargetMS: float64(p.Target) / float64(time.Millisecond), Budget: p.Budget, SeqLen: p.SeqLen, PredictedLoss: p.PredictedLoss}
		for _, lp := range p.Layers {
			row.Shards += len(lp.Shards)
		}
		agree := 0
		for j := range out {
			row.MeasuredKL += stats.KL(ref[j], out[j]) / float64(len(out))
			if argmaxF(ref[j]) == argmaxF(out[j]) {
				agree++
			}
		}
		row.Agreement = float64(agree) / float64(len(out))
		rep.Rows = append(rep.Rows, row)
		if opts.Progress != nil {
			opts.Progress(i+1, len(plans))
		}
	}
	pred, meas := make([]float64, len(rep.Rows)), make([]float64, len(rep.Rows))
	var ratios []float64
	for i, r := range rep.Rows {
		pred[i], meas[i] = r.PredictedLoss, r.MeasuredKL
		if r.PredictedLoss > 0 {
			ratios = append(ratios, r.MeasuredKL/r.PredictedLoss)
		}
	}
	rep.Spearman = Spearman(pred, meas)
	lp, lm := make([]float64, len(pred)), make([]float64, len(meas))
	for i := range pred {
		lp[i], lm[i] = math.Log(max(pred[i], 1e-300)), math.Log(max(meas[i], 1e-300))
	}
	rep.PearsonLog = pearson(lp, lm)
	if len(ratios) > 0 {
		slices.Sort(ratios)
		rep.Ratio = ratios[len(ratios)/2]
	}
	for i := 1; i < len(rep.Rows); i++ {
		a, b := rep.Rows[i-1], rep.Rows[i]
		if a.Request != b.Request {
			continue
		}
		rep.Pairs++
		if (a.PredictedLoss-b.PredictedLoss)*(a.MeasuredKL-b.MeasuredKL) > 0 {
			rep.Concordant++
		}
	}
	return rep, nil
}

// drawPlans plans random requests with every planner until it has n
// distinct plans (or has tried 20n requests), and returns with each plan
// the index of its request.
func drawPlans(prof *plan.Profiles, n int, seed uint64) ([]*plan.Plan, []int, error) {
	rng := rand.New(rand.NewPCG(seed, 0x9a1))
	var planners []plan.Planner
	for _, strat := range plan.Strategies() {
		pl, err := plan.New(prof, plan.Options{Strategy: strat, RowReads: plan.RowReadsBatched})
		if err != nil {
			return nil, nil, err
		}
		planners = append(planners, pl)
	}
	var maxBytes int64
	for _, layer := range prof.Geometry.Sizes {
		for _, head := range layer {
			last := head[len(head)-1]
			maxBytes += last.Attn + last.FFN
		}
	}
	full, err := plan.Full(prof.Geometry, slices.Max(prof.Geometry.Bits))
	if err != nil {
		return nil, nil, err
	}
	var out []*plan.Plan
	var reqs []int
	seen := map[string]bool{}
	for try := 0; len(out) < n && try < 20*n; try++ {
		pl := planners[0]
		seqLen := []int{8, 16, 32, 64}[rng.IntN(4)]
		budget := int64(rng.Float64() * float64(maxBytes) / 4)
		lo, err := plan.MinTarget(pl, budget, seqLen)
		if err != nil {
			continue
		}
		// Up to the time of streaming the whole model at full fidelity.
		var hi time.Duration
		for _, r := range full.IO {
			hi += prof.Device.ReadTime(r.Bytes)
		}
		hi = max(hi, 2*lo)
		target := time.Duration(float64(lo) * math.Pow(float64(hi)/float64(lo), rng.Float64()))
		// Every planner plans the request: pairs of plans the planners
		// choose between.
		for _, pl := range planners {
			p, err := pl.Plan(plan.Request{Target: target, Budget: budget, SeqLen: seqLen})
			if err != nil {
				if errors.Is(err, plan.ErrDeadline) {
					continue
				}
				return nil, nil, err
			}
			layers := slices.Clone(p.Layers)
			for i := range layers {
				layers[i].Start, layers[i].Finish = 0, 0
			}
			key := fmt.Sprint(layers)
			if seen[key] || len(out) == n {
				continue
			}
			seen[key] = true
			out = append(out, p)
			reqs = append(reqs, try)
		}
	}
	if len(out) < 2 {
		return nil, nil, fmt.Errorf("only %d distinct plans", len(out))
	}
	return out, reqs, nil
}

func argmaxF(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// Spearman is the rank correlation of x and y (ties get their mean rank);
// NaN when either is constant or they have fewer than two values.
func Spearman(x, y []float64) float64 {
	return pearson(ranks(x), ranks(y))
}

func ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(x[a], x[b]) })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			r[idx[k]] = float64(i+j)/2 + 1
		}
		i = j + 1
	}
	return r
}

func pearson(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) != len(y) || len(x) < 2 {
		return math.NaN()
	}
	var mx, my float64
	for i := range x {
		mx += x[i] / n
		my += y[i] / n
	}
	var sxy, sxx, syy float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
		syy += (y[i] - my) * (y[i] - my)
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}

// Markdown writes the rows, sorted by predicted loss, and the correlation.
func (r *PlanRankReport) Markdown(w io.Writer) {
	fmt.Fprintf(w, "Store `%s` (importance profile on %d examples); %d plans run on %d examples of `%s`.\n\n", r.Store, r.ProfileSamples, len(r.Rows), r.N, r.Data)
	fmt.Fprintln(w, "| request | planner | target ms | budget | length | shards | predicted loss | measured KL | agreement |")
	fmt.Fprintln(w, "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	rows := slices.Clone(r.Rows)
	slices.SortStableFunc(rows, func(a, b PlanRankRow) int { return cmp.Compare(a.PredictedLoss, b.PredictedLoss) })
	for _, row := range rows {
		fmt.Fprintf(w, "| %d | %s | %.2f | %d | %d | %d | %.3g | %.3g | %.4f |\n", row.Request, row.Planner, row.TargetMS, row.Budget, row.SeqLen, row.Shards, row.PredictedLoss, row.MeasuredKL, row.Agreement)
	}
	fmt.Fprintf(w, "\nSpearman rank correlation (predicted loss, measured KL): %.3f; Pearson of their logs: %.3f; median measured/predicted: %.3g\n", r.Spearman, r.PearsonLog, r.Ratio)
	fmt.Fprintf(w, "Requests planned differently by the planners: %d; the plan predicted to lose less measured less in %d\n", r.Pairs, r.Concordant)
}
