package elasticbench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/glue"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// DefaultKs are the numbers of dropped shards Importance tries when
// ImportanceOptions.Ks is nil (those below the model's shard count).
var DefaultKs = []int{6, 12, 24, 36, 48}

// The files ImportanceReport.WriteFiles writes.
const (
	ImportanceFile = "importance.json"
	ImportanceMD   = "importance.md"
	ImportancePNG  = "importance.png"
)

// ImportanceOptions configures Importance. Setup and Examples are required.
type ImportanceOptions struct {
	// Setup names the store and backend. The whole model is held in
	// memory, so the throttle does not matter.
	Setup    Setup
	Data     string
	Examples []glue.Example
	// Ks are the numbers of shards to drop; nil means DefaultKs.
	Ks []int
	// Seeds is the number of random draws per k; 0 means 5.
	Seeds int
	// Fidelity is what the kept shards run at; 0 means the highest stored.
	Fidelity quant.Fidelity
	// Progress, if set, is called after each configuration.
	Progress func(done, total int)
}

// ImportanceRow is the model with one set of shards dropped.
type ImportanceRow struct {
	K int `json:"k"`
	// Kind is "least" (the K least important by the profile's Dropped
	// loss), "most" (the K most important) or "random".
	Kind string `json:"kind"`
	Seed uint64 `json:"seed,omitempty"`
	// Dropped lists the shards as [layer, head].
	Dropped [][2]int `json:"dropped"`
	// ProfiledLoss sums the profile's Dropped loss over them.
	ProfiledLoss float64 `json:"profiled_loss"`
	Accuracy     float64 `json:"accuracy"`
	// Agreement is the fraction of examples on which the prediction
	// equals the full model's.
	Agreement float64 `json:"agreement"`
}

// ImportanceSummary compares the kinds at one k.
type ImportanceSummary struct {
	K               int     `json:"k"`
	LeastAccuracy   float64 `json:"least_accuracy"`
	MostAccuracy    float64 `json:"most_accuracy"`
	RandomMean      float64 `json:"random_mean_accuracy"`
	RandomMin       float64 `json:"random_min_accuracy"`
	RandomMax       float64 `json:"random_max_accuracy"`
	LeastAgreement  float64 `json:"least_agreement"`
	RandomAgreement float64 `json:"random_mean_agreement"`
	// LeastBeats counts the random draws whose accuracy is below the
	// least-important drop's, Ties those equal to it, of Seeds draws;
	// AgreementBeats those whose agreement with the full model is below
	// the least-important drop's.
	LeastBeats     int `json:"least_beats"`
	Ties           int `json:"ties"`
	AgreementBeats int `json:"agreement_beats"`
	Seeds          int `json:"seeds"`
}

// ImportanceReport is the outcome of Importance.
type ImportanceReport struct {
	Store          string              `json:"store"`
	Data           string              `json:"data"`
	N              int                 `json:"n"`
	Fidelity       quant.Fidelity      `json:"fidelity"`
	Shards         int                 `json:"shards"`
	ProfileTask    string              `json:"profile_task"`
	ProfileMetric  string              `json:"profile_metric"`
	ProfileSamples int                 `json:"profile_samples"`
	FullAccuracy   float64             `json:"full_accuracy"`
	Rows           []ImportanceRow     `json:"rows"`
	Summary        []ImportanceSummary `json:"summary"`
}

// Importance checks that the importance profile is real: on the examples
// (which should be the evaluation set, not the profiling data), it drops
// the k least important shards by the store's profile, the k most
// important, and k random ones (Seeds draws), with every other shard at
// opts.Fidelity, and measures the accuracy of each. The random sets of one
// seed are nested, as the ranked ones are: the k=6 set is part of the k=12
// set.
func Importance(ctx context.Context, opts ImportanceOptions) (*ImportanceReport, error) {
	if len(opts.Examples) == 0 {
		return nil, errors.New("importance bench: no examples")
	}
	seeds := opts.Seeds
	if seeds <= 0 {
		seeds = 5
	}
	set := opts.Setup
	set.Throttle = (Setup{}).Throttle
	s, _, err := openStore(ctx, &set)
	if err != nil {
		return nil, fmt.Errorf("importance bench: %w", err)
	}
	defer s.Close()
	imp, err := profile.LoadImportance(ctx, set.Store, s)
	if err != nil {
		return nil, fmt.Errorf("importance bench: %w", err)
	}
	cfg := s.Config()
	if imp.Layers != cfg.Layers || imp.Heads != cfg.Heads {
		return nil, fmt.Errorf("importance bench: profile covers %d×%d shards, model has %d×%d", imp.Layers, imp.Heads, cfg.Layers, cfg.Heads)
	}
	nShards := cfg.Layers * cfg.Heads
	ks := opts.Ks
	if ks == nil {
		for _, k := range DefaultKs {
			if k < nShards {
				ks = append(ks, k)
			}
		}
	}
	for _, k := range ks {
		if k <= 0 || k > nShards {
			return nil, fmt.Errorf("importance bench: cannot drop %d of %d shards", k, nShards)
		}
	}
	fid := opts.Fidelity
	if fid == 0 {
		fid = slices.Max(s.Manifest().Fidelities)
	}
	if !s.Manifest().HasFidelity(fid) {
		return nil, fmt.Errorf("importance bench: the store has no %d-bit shards", fid)
	}
	tok, err := s.Tokenizer()
	if err != nil {
		return nil, fmt.Errorf("importance bench: %w", err)
	}
	encs, err := encodeAll(tok, opts.Examples, set.maxLen())
	if err != nil {
		return nil, fmt.Errorf("importance bench: %s: %w", opts.Data, err)
	}
	be, err := backend.Get(set.backendName())
	if err != nil {
		return nil, err
	}
	ex, err := pipeline.NewExecutor(ctx, s, be, pipeline.ExecOptions{})
	if err != nil {
		return nil, fmt.Errorf("importance bench: %w", err)
	}
	geo, err := profile.GeometryFromManifest(s.Manifest())
	if err != nil {
		return nil, fmt.Errorf("importance bench: %w", err)
	}
	full, err := plan.Full(geo, fid)
	if err != nil {
		return nil, fmt.Errorf("importance bench: %w", err)
	}
	var keys []shardstore.Key
	for _, r := range full.IO {
		keys = append(keys, pipeline.Key(r.Layer, r.Head, r.Part, r.Bits))
	}
	if err := ex.SetPreload(ctx, keys); err != nil {
		return nil, fmt.Errorf("importance bench: %w", err)
	}

	// Rank by the Dropped loss, ties by position, so the order is fixed.
	ranked := make([][2]int, 0, nShards)
	for l := range cfg.Layers {
		for h := range cfg.Heads {
			ranked = append(ranked, [2]int{l, h})
		}
	}
	loss := func(sh [2]int) float64 { return imp.Shards[sh[0]][sh[1]].Dropped }
	slices.SortStableFunc(ranked, func(a, b [2]int) int { return cmp.Compare(loss(a), loss(b)) })
	var rows []ImportanceRow
	for _, k := range ks {
		rows = append(rows, ImportanceRow{K: k, Kind: "least", Dropped: slices.Clone(ranked[:k])})
		most := slices.Clone(ranked[nShards-k:])
		slices.Reverse(most)
		rows = append(rows, ImportanceRow{K: k, Kind: "most", Dropped: most})
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		perm := rand.New(rand.NewPCG(seed, 0x1a7e)).Perm(nShards)
		for _, k := range ks {
			var d [][2]int
			for _, i := range perm[:k] {
				d = append(d, [2]int{i / cfg.Heads, i % cfg.Heads})
			}
			rows = append(rows, ImportanceRow{K: k, Kind: "random", Seed: seed, Dropped: d})
		}
	}

	total := len(rows) + 1
	run := func(drop [][2]int) ([]int, error) {
		// Every shard is preloaded: the plan reads nothing.
		sched := &plan.Plan{Layers: make([]plan.LayerPlan, cfg.Layers)}
		gone := map[[2]int]bool{}
		for _, d := range drop {
			gone[d] = true
		}
		for l := range cfg.Layers {
			sched.Layers[l] = plan.LayerPlan{Layer: l, Shards: []plan.ShardChoice{}}
			for h := range cfg.Heads {
				if !gone[[2]int{l, h}] {
					sched.Layers[l].Shards = append(sched.Layers[l].Shards, plan.ShardChoice{Head: h, Bits: fid, Preloaded: true})
				}
			}
		}
		preds := make([]int, len(encs))
		for i, e := range encs {
			logits, _, err := ex.Run(ctx, sched, e.InputIDs, e.TokenTypeIDs)
			if err != nil {
				return nil, fmt.Errorf("importance bench: line %d: %w", opts.Examples[i].Line, err)
			}
			preds[i] = argmax(logits)
		}
		return preds, nil
	}
	labels := make([]int, len(opts.Examples))
	for i, e := range opts.Examples {
		labels[i] = e.Label
	}
	ref, err := run(nil)
	if err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		opts.Progress(1, total)
	}
	rep := &ImportanceReport{
		Store: set.Store, Data: opts.Data, N: len(encs), Fidelity: fid, Shards: nShards,
		ProfileTask: imp.Task, ProfileMetric: imp.Metric, ProfileSamples: imp.Samples,
		FullAccuracy: glue.Accuracy(ref, labels),
	}
	for i := range rows {
		preds, err := run(rows[i].Dropped)
		if err != nil {
			return nil, err
		}
		rows[i].Accuracy = glue.Accuracy(preds, labels)
		rows[i].Agreement = glue.Accuracy(preds, ref)
		for _, d := range rows[i].Dropped {
			rows[i].ProfiledLoss += loss(d)
		}
		if opts.Progress != nil {
			opts.Progress(i+2, total)
		}
	}
	rep.Rows = rows
	rep.Summary = summarizeImportance(rows, ks)
	return rep, nil
}

func summarizeImportance(rows []ImportanceRow, ks []int) []ImportanceSummary {
	var out []ImportanceSummary
	for _, k := range ks {
		s := ImportanceSummary{K: k, RandomMin: math.Inf(1), RandomMax: math.Inf(-1)}
		var least, leastAgree float64
		var rand []ImportanceRow
		for _, r := range rows {
			if r.K != k {
				continue
			}
			switch r.Kind {
			case "least":
				least, s.LeastAccuracy, s.LeastAgreement, leastAgree = r.Accuracy, r.Accuracy, r.Agreement, r.Agreement
			case "most":
				s.MostAccuracy = r.Accuracy
			case "random":
				rand = append(rand, r)
			}
		}
		for _, r := range rand {
			s.RandomMean += r.Accuracy / float64(len(rand))
			s.RandomAgreement += r.Agreement / float64(len(rand))
			s.RandomMin, s.RandomMax = min(s.RandomMin, r.Accuracy), max(s.RandomMax, r.Accuracy)
			switch {
			case r.Accuracy < least:
				s.LeastBeats++
			case r.Accuracy == least:
				s.Ties++
			}
			if r.Agreement < leastAgree {
				s.AgreementBeats++
			}
		}
		s.Seeds = len(rand)
		if len(rand) == 0 {
			s.RandomMin, s.RandomMax = 0, 0
		}
		out = append(out, s)
	}
	return out
}

// ReadImportanceReport reads back the importance.json WriteFiles wrote
// into dir and summarises its rows again.
func ReadImportanceReport(dir string) (*ImportanceReport, error) {
	b, err := os.ReadFile(filepath.Join(dir, ImportanceFile))
	if err != nil {
		return nil, fmt.Errorf("importance bench: %w", err)
	}
	var r ImportanceReport
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("importance bench: %s: %w", filepath.Join(dir, ImportanceFile), err)
	}
	var ks []int
	for _, row := range r.Rows {
		if !slices.Contains(ks, row.K) {
			ks = append(ks, row.K)
		}
	}
	r.Summary = summarizeImportance(r.Rows, ks)
	return &r, nil
}

// Markdown writes the summary table.
func (r *ImportanceReport) Markdown(w io.Writer) {
	fmt.Fprintf(w, "Store `%s`: %d shards; importance profile: %s on %d %s examples. Evaluated on %d examples of `%s`, kept shards at %d bits; full model accuracy %.4f.\n\n",
		r.Store, r.Shards, r.ProfileMetric, r.ProfileSamples, r.ProfileTask, r.N, r.Data, int(r.Fidelity), r.FullAccuracy)
	fmt.Fprintln(w, "| k dropped | least important: acc | agreement | random: mean acc | min | max | mean agreement | random draws below least (acc) | (agreement) | most important: acc | agreement |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, s := range r.Summary {
		most := 0.0
		for _, row := range r.Rows {
			if row.K == s.K && row.Kind == "most" {
				most = row.Agreement
			}
		}
		fmt.Fprintf(w, "| %d | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %d of %d (%d ties) | %d of %d | %.4f | %.4f |\n",
			s.K, s.LeastAccuracy, s.LeastAgreement, s.RandomMean, s.RandomMin, s.RandomMax, s.RandomAgreement,
			s.LeastBeats, s.Seeds, s.Ties, s.AgreementBeats, s.Seeds, s.MostAccuracy, most)
	}
	fmt.Fprintln(w, "\n(agreement: fraction of predictions equal to the full model's)")
}

// WriteFiles writes importance.json, importance.md and importance.png into
// dir.
func (r *ImportanceReport) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("importance bench: %w", err)
	}
	if err := writeJSON(filepath.Join(dir, ImportanceFile), r); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, ImportanceMD))
	if err != nil {
		return fmt.Errorf("importance bench: %w", err)
	}
	r.Markdown(f)
	if err := f.Close(); err != nil {
		return fmt.Errorf("importance bench: %w", err)
	}
	p, err := r.plot()
	if err != nil {
		return fmt.Errorf("importance bench: %w", err)
	}
	return p.Save(6*vg.Inch, 4*vg.Inch, filepath.Join(dir, ImportancePNG))
}

func (r *ImportanceReport) plot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Dropping k of %d shards (n=%d)", r.Shards, r.N)
	p.X.Label.Text = "shards dropped (k)"
	p.Y.Label.Text = "accuracy"
	p.Legend.Top = false
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	var least, most, mean plotter.XYs
	var errs plotter.YErrors
	for _, s := range r.Summary {
		k := float64(s.K)
		least = append(least, plotter.XY{X: k, Y: s.LeastAccuracy})
		most = append(most, plotter.XY{X: k, Y: s.MostAccuracy})
		mean = append(mean, plotter.XY{X: k, Y: s.RandomMean})
		errs = append(errs, struct{ Low, High float64 }{s.RandomMean - s.RandomMin, s.RandomMax - s.RandomMean})
	}
	full, err := plotter.NewLine(plotter.XYs{{X: 0, Y: r.FullAccuracy}, {X: float64(r.Shards), Y: r.FullAccuracy}})
	if err != nil {
		return nil, err
	}
	full.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(full)
	p.Legend.Add("full model", full)
	for i, s := range []struct {
		name string
		xy   plotter.XYs
	}{{"least important dropped", least}, {"random dropped (mean, min–max)", mean}, {"most important dropped", most}} {
		if len(s.xy) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(s.xy)
		if err != nil {
			return nil, err
		}
		l.Color, pts.Color, pts.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
		if i == 1 {
			eb, err := plotter.NewYErrorBars(struct {
				plotter.XYer
				plotter.YErrorer
			}{s.xy, errs})
			if err != nil {
				return nil, err
			}
			eb.Color = plotutil.Color(i)
			p.Add(eb)
		}
	}
	p.Add(plotter.NewGrid())
	return p, nil
}
