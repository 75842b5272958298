package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/glue"
	"github.com/wrxlabs/wrx/internal/progress"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
	_ "github.com/wrxlabs/wrx/storage/badger"
	_ "github.com/wrxlabs/wrx/storage/flatfile"
)

func profileCommand() *cli.Command {
	store := &cli.StringFlag{Name: "store", Required: true, Usage: "shard store `URI` made by wrx convert (file:PATH, badger:PATH)"}
	be := &cli.StringFlag{Name: "backend", Value: "native", Usage: "tensor backend: native or gorgonia"}
	quiet := &cli.BoolFlag{Name: "quiet", Usage: "no progress bar"}
	js := &cli.BoolFlag{Name: "json", Usage: "print the profile as JSON instead of a summary"}
	noSave := &cli.BoolFlag{Name: "no-save", Usage: "measure and print, but do not write the profile into the store"}
	return &cli.Command{
		Name:  "profile",
		Usage: "measure the importance and device profiles the planner needs, and save them in the store",
		Subcommands: []*cli.Command{
			{
				Name:  "importance",
				Usage: "measure how much each shard version costs in output quality",
				Description: `For every shard (layer, head) and every stored fidelity, plus "dropped", runs
the model with only that shard degraded on the first --limit labelled
examples of --data, and records the mean KL divergence of the label
distribution from the full-fidelity model's, and the change in accuracy.
Use training data, never the evaluation set (for SST-2: train.tsv, and
evaluate on dev.tsv). The profile is saved in the store under
profile/importance.`,
				Flags: []cli.Flag{store, be, quiet, js, noSave,
					&cli.StringFlag{Name: "task", Value: "sst2", Usage: "GLUE `TASK` of --data: sst2, rte, mrpc or qnli"},
					&cli.StringFlag{Name: "data", Required: true, Usage: "labelled `FILE.tsv` kept apart from evaluation, e.g. SST-2 train.tsv"},
					&cli.IntFlag{Name: "limit", Value: 500, Usage: "profile on the first `N` rows (0: all)"},
					&cli.IntFlag{Name: "workers", Usage: "parallel jobs (0: one per CPU)"},
					&cli.IntFlag{Name: "max-len", Value: profile.DefaultProfileMaxLen, Usage: "truncate examples to `N` tokens"},
				},
				Action: profileImportance,
			},
			{
				Name:  "device",
				Usage: "measure storage reads and compute time on this device",
				Description: `Fits the store's per-read latency and bandwidth from cold reads of shard
blobs of every size, and times one layer per (sequence length, shard count),
the embedding, the head, and a layer at each fidelity (dequantization cost).
With --throttle the reads go through an emulated slower device; the saved
profile then describes that device. The profile is saved in the store under
profile/device/BACKEND.`,
				Flags: []cli.Flag{store, be, quiet, js, noSave,
					&cli.StringFlag{Name: "throttle", Usage: "emulate a slower storage device: `BANDWIDTH,LATENCY` per read, e.g. 100MB/s,0.5ms (concurrent reads overlap their latencies; add ,serial for one read at a time)"},
					&cli.IntFlag{Name: "repeats", Value: 9, Usage: "time each point `N` times and keep the median"},
					&cli.IntFlag{Name: "threads", Usage: "backend compute `THREADS` (0: for native one fewer than GOMAXPROCS, what WRX streams with; gorgonia takes only 0)"},
					&cli.IntFlag{Name: "read-queue", Value: profile.DefaultReadQueue, Usage: "measure reads `Q` at a time, the depth WRX then streams at (the profile's latency and bandwidth are the effective ones at that depth; 1: one read at a time)"},
				},
				Action: profileDevice,
			},
			{
				Name:  "words",
				Usage: "count token frequencies, so the preload buffer can keep the most frequent word rows",
				Description: `Tokenizes --data (unlabelled use of a labelled GLUE file) and counts, per
token, how many examples contain it. With the profile in the store, WRX's
preload buffer also keeps the word-embedding rows of the most frequent tokens
(those in at least 0.2% of the examples; the planner gives rows none, 1/8,
1/4 or 1/2 of the budget, whichever plans best), and a request reads only
the rows of its other tokens. Use training data, not the
evaluation set. The profile is saved in the store under profile/words.`,
				Flags: []cli.Flag{store, js, noSave,
					&cli.StringFlag{Name: "task", Value: "sst2", Usage: "GLUE `TASK` of --data: sst2, rte, mrpc, qnli or stsb"},
					&cli.StringFlag{Name: "data", Required: true, Usage: "GLUE `FILE.tsv` kept apart from evaluation, e.g. SST-2 train.tsv"},
					&cli.IntFlag{Name: "limit", Usage: "count the first `N` rows (0: all)"},
					&cli.IntFlag{Name: "max-len", Value: 128, Usage: "truncate examples to `N` tokens"},
				},
				Action: profileWords,
			},
		},
	}
}

// profileBackend returns the named backend. Importance profiling runs
// whole jobs in parallel, so the native backend's own threads would only
// compete with them: each worker then gets single-threaded kernels.
// Backends that cannot bound their threads (gorgonia) keep their default.
func profileBackend(name string, workers int) (backend.Backend, error) {
	var cfg backend.Config
	if name == "native" && workers > 1 {
		cfg.Threads = 1
	}
	return backend.Open(name, cfg)
}

func profileImportance(c *cli.Context) error {
	ctx, uri := c.Context, c.String("store")
	task, err := glue.ParseTask(c.String("task"))
	if err != nil {
		return err
	}
	if task.Regression() {
		return fmt.Errorf("task %s is a regression; importance needs a classification task", task)
	}
	data := c.String("data")
	examples, err := readProfilingData(c, task)
	if err != nil {
		return err
	}
	workers := c.Int("workers")
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	be, err := profileBackend(c.String("backend"), workers)
	if err != nil {
		return err
	}
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		return err
	}
	defer s.Close()
	update, finish := progress.New(fmt.Sprintf("importance (%d examples)", len(examples)), c.Bool("quiet"))
	var refAcc float64
	start := time.Now()
	labelled := make([]profile.Example, len(examples))
	for i, ex := range examples {
		labelled[i] = profile.Example{Text: ex.Text, Pair: ex.Pair, Label: ex.Label, Line: ex.Line}
	}
	p, err := profile.ProfileImportance(ctx, s, be, labelled, profile.ImportanceOptions{
		MaxLen: c.Int("max-len"), Workers: workers, Task: string(task),
		Progress: update, Reference: func(a float64) { refAcc = a },
	})
	finish()
	if err != nil {
		return err
	}
	took := time.Since(start)
	return saveAndShow(c, p, profile.ImportanceSidecar, func() error { return profile.SaveImportance(ctx, uri, s, p) }, func(w io.Writer) {
		fmt.Fprintf(w, "importance of %d×%d shards at %v bits + dropped, on %d examples of %s (%s)\n",
			p.Layers, p.Heads, p.Bits, p.Samples, data, task)
		fmt.Fprintf(w, "full model accuracy %.4f; %d jobs on %d workers (%s) in %s\n",
			refAcc, p.Layers*p.Heads*(len(p.Bits)+1), workers, be.Name(), took.Round(time.Millisecond))
		printImportanceSummary(w, p)
	})
}

// readProfilingData reads the first --limit examples of --data, warning
// when the file looks like an evaluation set.
func readProfilingData(c *cli.Context, task glue.Task) ([]glue.Example, error) {
	data := c.String("data")
	if strings.HasPrefix(strings.ToLower(filepath.Base(data)), "dev") {
		fmt.Fprintf(c.App.ErrWriter, "warning: %s looks like an evaluation set; profile on training data so that evaluation stays honest\n", data)
	}
	return glue.ReadFile(c.Context, data, task, c.Int("limit"))
}

func profileWords(c *cli.Context) error {
	ctx, uri, data := c.Context, c.String("store"), c.String("data")
	task, err := glue.ParseTask(c.String("task"))
	if err != nil {
		return err
	}
	examples, err := readProfilingData(c, task)
	if err != nil {
		return err
	}
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		return err
	}
	defer s.Close()
	tok, err := s.Tokenizer()
	if err != nil {
		return err
	}
	reqs := make([][]int, 0, len(examples))
	for i, ex := range examples {
		enc, err := tok.EncodeWith(ex.Text, ex.Pair, bert.EncodeOptions{MaxLen: c.Int("max-len"), AllowEmpty: true})
		if err != nil {
			return fmt.Errorf("%s row %d: %w", data, i+1, err)
		}
		reqs = append(reqs, enc.InputIDs)
	}
	p, err := profile.ProfileWords(fmt.Sprintf("%s (%s, %d examples)", filepath.Base(data), task, len(examples)), reqs)
	if err != nil {
		return err
	}
	return saveAndShow(c, p, profile.WordsSidecar, func() error { return profile.SaveWords(ctx, uri, s, p) }, func(w io.Writer) {
		printWordCoverage(w, p, reqs, data)
	})
}

// printWordCoverage prints how much of the requests' token positions the
// most frequent tokens cover.
func printWordCoverage(w io.Writer, p *plan.WordProfile, reqs [][]int, data string) {
	var tokens int
	for _, ids := range reqs {
		tokens += len(ids)
	}
	fmt.Fprintf(w, "%d distinct tokens in %d examples (%d tokens) of %s\n", len(p.Top), p.Requests, tokens, data)
	for _, n := range []int{10, 100, 300, 1000, 3000} {
		if n > len(p.Top) {
			break
		}
		hot := map[int]bool{}
		for _, t := range p.Top[:n] {
			hot[t.ID] = true
		}
		var covered int
		for _, ids := range reqs {
			for _, id := range ids {
				if hot[id] {
					covered++
				}
			}
		}
		fmt.Fprintf(w, "  the %4d most frequent cover %5.1f%% of token positions (the last in %.1f%% of examples)\n",
			n, 100*float64(covered)/float64(tokens), 100*float64(p.Top[n-1].Requests)/float64(p.Requests))
	}
}

// saveAndShow writes a measured profile into the store unless --no-save,
// then prints it: as JSON with --json, else as summary followed by where
// it was saved.
func saveAndShow(c *cli.Context, p any, key string, save func() error, summary func(io.Writer)) error {
	saved := !c.Bool("no-save")
	if saved {
		if err := save(); err != nil {
			return err
		}
	}
	if c.Bool("json") {
		return printProfileJSON(c.App.Writer, p)
	}
	summary(c.App.Writer)
	if saved {
		fmt.Fprintf(c.App.Writer, "saved beside %s as %s\n", c.String("store"), key)
	}
	return nil
}

// printImportanceSummary prints the mean loss per fidelity and the shards
// that matter most and least when dropped.
func printImportanceSummary(w io.Writer, p *plan.ImportanceProfile) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "bits\tmean KL\tmax KL\tmean Δacc\t")
	n := float64(p.Layers * p.Heads)
	row := func(name string, kl func(*plan.ShardImportance) float64, acc func(*plan.ShardImportance) float64) {
		var sum, mx, dacc float64
		for l := range p.Shards {
			for h := range p.Shards[l] {
				sh := &p.Shards[l][h]
				sum += kl(sh)
				mx = max(mx, kl(sh))
				dacc += acc(sh)
			}
		}
		fmt.Fprintf(tw, "%s\t%.3g\t%.3g\t%+.4f\t\n", name, sum/n, mx, dacc/n)
	}
	for i, b := range p.Bits {
		row(b.String(),
			func(s *plan.ShardImportance) float64 { return s.Loss[i] },
			func(s *plan.ShardImportance) float64 {
				if s.AccDelta == nil {
					return 0
				}
				return s.AccDelta[i]
			})
	}
	row("dropped", func(s *plan.ShardImportance) float64 { return s.Dropped },
		func(s *plan.ShardImportance) float64 { return s.DroppedAccDelta })
	tw.Flush()

	type shard struct {
		l, h int
		kl   float64
		acc  float64
	}
	var all []shard
	for l := range p.Shards {
		for h, s := range p.Shards[l] {
			all = append(all, shard{l, h, s.Dropped, s.DroppedAccDelta})
		}
	}
	slices.SortStableFunc(all, func(a, b shard) int {
		switch {
		case a.kl > b.kl:
			return -1
		case a.kl < b.kl:
			return 1
		}
		return 0
	})
	k := min(5, len(all))
	show := func(title string, ss []shard) {
		fmt.Fprintln(w, title)
		for _, s := range ss {
			fmt.Fprintf(w, "  layer %d head %2d: KL %.4g, Δacc %+.4f\n", s.l, s.h, s.kl, s.acc)
		}
	}
	show("most important when dropped:", all[:k])
	show("least important when dropped:", all[len(all)-k:])
}

func profileDevice(c *cli.Context) error {
	ctx, uri := c.Context, c.String("store")
	name := c.String("backend")
	be, err := pipeline.OpenBackend(name, c.Int("threads"))
	if err != nil {
		return fmt.Errorf("--backend %s --threads %d: %w", name, c.Int("threads"), err)
	}
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		return err
	}
	defer s.Close()
	st := s.Storage()
	device := "unthrottled"
	if t := c.String("throttle"); t != "" {
		cfg, err := storage.ParseThrottle(t)
		if err != nil {
			return err
		}
		st, device = storage.Throttle(st, cfg), "throttled to "+cfg.String()
	}
	update, finish := progress.New("device", c.Bool("quiet"))
	start := time.Now()
	p, err := profile.ProfileDevice(ctx, s, st, be, profile.DeviceOptions{Repeats: c.Int("repeats"), ReadQueue: c.Int("read-queue"), Progress: update})
	finish()
	if err != nil {
		return err
	}
	took := time.Since(start)
	return saveAndShow(c, p, profile.DeviceSidecar(p.Backend), func() error { return profile.SaveDevice(ctx, uri, s, p) }, func(w io.Writer) {
		fmt.Fprintf(w, "device profile of %s (%s), backend %s (%d compute threads), measured in %s\n", uri, device, p.Backend, p.Threads, took.Round(time.Millisecond))
		fmt.Fprintf(w, "reads: %s, %v per read, %d in flight\n", units.FormatBandwidth(p.ReadBandwidth), p.ReadLatency.Round(time.Microsecond), max(p.ReadQueue, 1))
		for _, r := range p.Depths {
			fmt.Fprintf(w, "  %d in flight: %s, %v per read\n", r.Queue, units.FormatBandwidth(r.Bandwidth), r.Latency.Round(time.Microsecond))
		}
		if len(p.Decode) > 0 {
			fmt.Fprint(w, "decode per blob, attention/FFN (bits:µs):")
			for _, d := range p.Decode {
				fmt.Fprintf(w, " %d:%.0f/%.0f", d.Bits, float64(d.Attention)/1e3, float64(d.FFN)/1e3)
			}
			fmt.Fprintln(w)
		}
		if p.RowReadTime > 0 {
			fmt.Fprintf(w, "word rows: %v + %v per row\n", p.RowReadFixed.Round(time.Microsecond), p.RowReadTime.Round(time.Microsecond))
		}
		printComputeTable(w, p)
	})
}

func printComputeTable(w io.Writer, p *plan.DeviceProfile) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }
	t := &p.Compute
	fmt.Fprintln(w, "layer compute time (ms) by sequence length (rows) and shards per layer (columns):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "S\\n\t")
	for _, n := range t.ShardCounts {
		fmt.Fprintf(tw, "%d\t", n)
	}
	fmt.Fprint(tw, "embed\thead\t\n")
	for i, S := range t.SeqLens {
		fmt.Fprintf(tw, "%d\t", S)
		for _, d := range t.Layer[i] {
			fmt.Fprintf(tw, "%s\t", ms(d))
		}
		fmt.Fprintf(tw, "%s\t%s\t\n", ms(t.Embed[i]), ms(t.Head[i]))
	}
	tw.Flush()
	var parts []string
	for _, f := range p.Dequant {
		parts = append(parts, fmt.Sprintf("%d:%.2f", f.Bits, f.Factor))
	}
	fmt.Fprintf(w, "dequantization factor of the shards' compute, vs the highest fidelity (bits:factor): %s\n", strings.Join(parts, " "))
}

func printProfileJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
