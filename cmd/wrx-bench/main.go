// Command wrx-bench measures WRX against the paper's baselines under
// latency targets and memory budgets, and the kernels against each other.
// It is kept apart from the wrx command so that the shipped binary links
// no bench harness, plotting or test code.
//
//	wrx-bench --store file:S --task sst2 --data dev.tsv --targets auto --budgets 2MB,4MB --out DIR
//	wrx-bench report DIR
//	wrx-bench importance --store file:S --data dev.tsv --out DIR
//	wrx-bench plan-rank --store file:S --data dev.tsv --limit 300 --plans 30
//	wrx-bench plan-gap --store file:S --throttle 100MB/s,0.5ms
//	wrx-bench gemm
//	wrx-bench stream-bound --store file:S --bound-bandwidth 1.8GB/s
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	elasticbench "github.com/wrxlabs/wrx/bench/elastic"
	"github.com/wrxlabs/wrx/bench/gemm"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/glue"
	"github.com/wrxlabs/wrx/internal/progress"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/storage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newApp().RunContext(ctx, os.Args)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	b := benchCommand()
	return &cli.App{Name: "wrx-bench", Usage: b.Usage, Description: b.Description, Flags: b.Flags, Action: b.Action, Commands: b.Subcommands}
}

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure WRX against its baselines under latency targets and memory budgets",
		Description: `Serves every example of --data once per mode and writes DIR/results.json (one
object per mode, target and budget: accuracy, p50/p95/max latency, deadline-miss
rate, peak resident weight bytes, peak RSS, ...), meta.json, units.json (every
request), results.md (the tables) and the plots accuracy_vs_target.png,
latency_vs_target.png and memory.png.

  wrx-bench --store file:S --task sst2 --data dev.tsv --targets auto \
      --budgets 1MB,4MB,16MB --throttle 100MB/s,0.5ms --baseline-limit 50 --out DIR

Every request starts cold: the store is read with direct IO and only the
resident parts and the preload buffer stay in memory between requests. The
baselines (hold-in-memory, quantized-hold, load-then-exec, layerwise-pipeline, each at every
--fidelity; quantized-hold at --quantized-fidelity's when given) do not depend on target or budget: each runs once and is scored
against every target; one that misses a target (p95 over it, or more than 5%
of requests over it) fails there. WRX runs once per planner, target and budget.
Each run happens in a child process of this program, so that its peak RSS is
its own (--in-process: one process, peak RSS then cumulative).

--targets auto sweeps --auto-targets targets, log-spaced, from the smallest
the planner accepts (median request length, largest budget) to the full
model's cold time (layerwise-pipeline@32's p50, else the planner's prediction).
With --throttle the planner's read side is re-measured on the throttled
storage; meta.json reports the stored and measured values and which was used.

Subcommands: "importance" (dropping the least important shards vs random
ones), "plan-rank" (the additive loss model on whole plans: predicted vs
measured divergence), "plan-gap" (the planners' gap to the lower bound on the
loss), "gemm" (matrix-multiply throughput per backend) and "report" (render
the tables and plots of an output directory again). The planners are
compared with --planner both (planners.json, and a table in results.md).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "store", Usage: "shard store `URI` made by wrx convert and wrx profile (required)"},
			&cli.StringFlag{Name: "task", Value: "sst2", Usage: "GLUE `TASK` of --data"},
			&cli.StringFlag{Name: "data", Usage: "labelled evaluation `FILE.tsv`, e.g. SST-2 dev.tsv (required)"},
			&cli.IntFlag{Name: "limit", Usage: "use only the first `N` examples (0: all)"},
			&cli.StringFlag{Name: "modes", Value: "wrx,hold-in-memory,quantized-hold,load-then-exec,layerwise-pipeline", Usage: "comma-separated `MODES`"},
			&cli.StringFlag{Name: "targets", Value: "auto", Usage: "comma-separated latency `TARGETS` (e.g. 20ms,40ms) or auto"},
			&cli.IntFlag{Name: "auto-targets", Value: elasticbench.DefaultAutoTargets, Usage: "with --targets auto: about `N` targets"},
			&cli.StringFlag{Name: "budgets", Value: "2MB,4MB,8MB,16MB", Usage: "comma-separated total memory `BUDGETS` for WRX: resident parts, activations for --max-len tokens, in-flight and preload buffers (as wrx classify --budget)"},
			&cli.StringFlag{Name: "throttle", Usage: "emulate a slower storage device: `BANDWIDTH,LATENCY` per read, e.g. 100MB/s,0.5ms (concurrent reads overlap their latencies; add ,serial for one read at a time)"},
			&cli.StringFlag{Name: "fidelity", Usage: "comma-separated `BITS` the baselines run at (the paper's X), e.g. 32,8; default: the highest stored"},
			&cli.StringFlag{Name: "quantized-fidelity", Usage: "comma-separated `BITS` quantized-hold runs at instead of --fidelity's, e.g. 2,3,4,8"},
			&cli.StringFlag{Name: "planner", Value: "optimal", Usage: "WRX's planner: optimal, greedy or both (compared in planners.json)"},
			&cli.IntFlag{Name: "baseline-limit", Usage: "time load-then-exec and layerwise-pipeline on the first `N` examples only; their accuracy is then hold-in-memory's (verified on those N)"},
			&cli.StringFlag{Name: "out", Usage: "output `DIR` (required)"},
			&cli.StringFlag{Name: "backend", Value: "native", Usage: "tensor backend: native or gorgonia"},
			&cli.IntFlag{Name: "stream-threads", Usage: "native backend `THREADS` of the modes that stream while computing (0: one fewer than GOMAXPROCS; WRX needs a device profile measured with as many)"},
			&cli.IntFlag{Name: "max-len", Value: elasticbench.DefaultMaxLen, Usage: "truncate inputs to `N` tokens"},
			&cli.StringFlag{Name: "merge-reads", Usage: "WRX reads streamed blobs that lie back to back with one read of up to `SIZE` (e.g. 1MiB), as its planner plans them; default: one read per blob"},
			&cli.Float64Flag{Name: "loss-tolerance", Usage: "WRX's planner counts predicted losses within `NATS` of its best as equal and reads the fewest bytes among them (0: the planner's default; negative: the least loss whatever it reads)"},
			&cli.BoolFlag{Name: "in-process", Usage: "measure every mode in this process instead of one child process each"},
			&cli.BoolFlag{Name: "resume", Usage: "reuse the runs an earlier (interrupted) bench with the same flags wrote into --out"},
			&cli.BoolFlag{Name: "json", Usage: "print results.json's rows instead of the tables"},
			&cli.BoolFlag{Name: "quiet", Usage: "no per-run log on stderr"},
		},
		Action: benchMain,
		Subcommands: []*cli.Command{
			benchImportanceCommand(),
			benchPlanRankCommand(),
			benchPlanGapCommand(),
			benchGemmCommand(),
			benchStreamBoundCommand(),
			{
				Name:      "report",
				Usage:     "score the requests in a bench (or bench importance) output directory again and rewrite its tables and plots",
				ArgsUsage: "DIR",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return errors.New("bench report: give the output directory of a wrx bench run")
					}
					dir := c.Args().First()
					if _, err := os.Stat(filepath.Join(dir, elasticbench.ImportanceFile)); err == nil {
						rep, err := elasticbench.ReadImportanceReport(dir)
						if err != nil {
							return err
						}
						if err := rep.WriteFiles(dir); err != nil {
							return err
						}
						rep.Markdown(c.App.Writer)
						return nil
					}
					rep, err := elasticbench.ReadReport(c.Args().First())
					if err != nil {
						return err
					}
					rep.Rescore()
					if err := rep.WriteFiles(c.Args().First()); err != nil {
						return err
					}
					rep.Markdown(c.App.Writer)
					return nil
				},
			},
			{
				Name:   "child",
				Usage:  "(internal) measure one unit: a job as JSON on stdin, the result as JSON on stdout",
				Hidden: true,
				Action: func(c *cli.Context) error {
					return elasticbench.ServeChild(c.Context, c.App.Reader, c.App.Writer)
				},
			},
		},
	}
}

func benchMain(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q (subcommands: importance, plan-rank, plan-gap, gemm, report)", c.Args().First())
	}
	for _, f := range []string{"store", "data", "out"} {
		if c.String(f) == "" {
			return fmt.Errorf("bench: --%s is required", f)
		}
	}
	set, err := benchSetup(c)
	if err != nil {
		return err
	}
	task, examples, err := benchExamples(c)
	if err != nil {
		return err
	}
	opts := elasticbench.Options{
		Setup: set, Task: string(task), Data: c.String("data"), Examples: examples,
		AutoTargets: c.Int("auto-targets"), BaselineLimit: c.Int("baseline-limit"),
	}
	if opts.Modes, err = parseModes(c.String("modes")); err != nil {
		return err
	}
	if t := strings.TrimSpace(c.String("targets")); t != "auto" {
		if opts.Targets, err = parseList(t, "--targets", units.ParseDuration); err != nil {
			return err
		}
	}
	if opts.Budgets, err = parseList(c.String("budgets"), "--budgets", units.ParseBytes); err != nil {
		return err
	}
	if f := c.String("fidelity"); f != "" {
		if opts.Fidelities, err = quant.ParseFidelities(f); err != nil {
			return fmt.Errorf("--fidelity: %w", err)
		}
	}
	if f := c.String("quantized-fidelity"); f != "" {
		fids, err := quant.ParseFidelities(f)
		if err != nil {
			return fmt.Errorf("--quantized-fidelity: %w", err)
		}
		opts.ModeFidelities = map[elasticbench.Mode][]quant.Fidelity{elasticbench.ModeQuantizedHold: fids}
	}
	switch p := c.String("planner"); p {
	case "both":
		opts.Planners = plan.Strategies()
	default:
		s, err := plan.ParseStrategy(p)
		if err != nil {
			return fmt.Errorf("--planner: %w (or both)", err)
		}
		opts.Planners = []plan.Strategy{s}
	}
	if !c.Bool("quiet") {
		opts.Log = c.App.ErrWriter
	}
	if !c.Bool("in-process") {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: finding this program to run each mode in a child process (or use --in-process): %w", err)
		}
		opts.Measurer = &elasticbench.Subprocess{Path: exe, Args: []string{"child"}, Stderr: c.App.ErrWriter}
	}
	out := c.String("out")
	if c.Bool("resume") {
		if _, err := os.Stat(filepath.Join(out, elasticbench.UnitsFile)); err == nil {
			if opts.Resume, err = elasticbench.ReadReport(out); err != nil {
				return fmt.Errorf("--resume: %w", err)
			}
		}
	}
	rep, err := elasticbench.Run(c.Context, opts)
	if rep != nil && len(rep.Units) > 0 {
		// Written even when the run failed or was interrupted, so that
		// --resume can carry on from the units measured.
		if werr := rep.WriteFiles(out); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		if rep != nil {
			return fmt.Errorf("%w (the %d runs measured are in %s; --resume carries on)", err, len(rep.Units), out)
		}
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, rep.Rows)
	}
	rep.Markdown(c.App.Writer)
	fmt.Fprintf(c.App.Writer, "\nwrote %s, %s, %s, %s and the plots into %s\n",
		elasticbench.ResultsFile, elasticbench.MetaFile, elasticbench.UnitsFile, elasticbench.MarkdownFile, out)
	return nil
}

// benchSetup reads the flags every bench command shares.
func benchSetup(c *cli.Context) (elasticbench.Setup, error) {
	set := elasticbench.Setup{Store: c.String("store"), Backend: c.String("backend"), MaxLen: c.Int("max-len"), StreamThreads: c.Int("stream-threads")}
	if t := c.String("throttle"); t != "" {
		cfg, err := storage.ParseThrottle(t)
		if err != nil {
			return set, fmt.Errorf("--throttle: %w", err)
		}
		set.Throttle = cfg
	}
	if m := c.String("merge-reads"); m != "" {
		n, err := units.ParseBytes(m)
		if err != nil {
			return set, fmt.Errorf("--merge-reads: %w", err)
		}
		set.MaxReadBytes = n
	}
	set.LossTolerance = c.Float64("loss-tolerance")
	return set, nil
}

func benchExamples(c *cli.Context) (glue.Task, []glue.Example, error) {
	task, err := glue.ParseTask(c.String("task"))
	if err != nil {
		return "", nil, err
	}
	if task.Regression() {
		return "", nil, fmt.Errorf("bench: task %s is a regression; the benchmark scores accuracy", task)
	}
	data := c.String("data")
	if strings.HasPrefix(strings.ToLower(filepath.Base(data)), "train") {
		fmt.Fprintf(c.App.ErrWriter, "warning: %s looks like training data; the importance profile is measured on it, so evaluate on dev.tsv\n", data)
	}
	ex, err := glue.ReadFile(c.Context, data, task, c.Int("limit"))
	return task, ex, err
}

func parseModes(s string) ([]elasticbench.Mode, error) {
	return parseList(s, "--modes", elasticbench.ParseMode)
}

// parseList parses a comma-separated list with parse, naming flag in
// errors.
func parseList[T any](s, flag string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := parse(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty list", flag)
	}
	return out, nil
}

func benchImportanceCommand() *cli.Command {
	return &cli.Command{
		Name:  "importance",
		Usage: "check the importance profile: accuracy with the k least important shards dropped vs k random ones",
		Description: `With every other shard at --fidelity (default: the highest stored) and the
model held in memory, drops the k least important shards by the store's
importance profile (their "dropped" loss), the k most important, and k random
shards (--seeds draws, nested across k), and scores each on --data, which
should be the evaluation set (the profile was measured on training data).
Writes DIR/importance.json, importance.md and importance.png.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "store", Required: true, Usage: "profiled shard store `URI`"},
			&cli.StringFlag{Name: "task", Value: "sst2", Usage: "GLUE `TASK` of --data"},
			&cli.StringFlag{Name: "data", Required: true, Usage: "labelled evaluation `FILE.tsv`"},
			&cli.IntFlag{Name: "limit", Usage: "use only the first `N` examples (0: all)"},
			&cli.StringFlag{Name: "k", Value: "6,12,24,36,48", Usage: "comma-separated numbers of shards to drop"},
			&cli.IntFlag{Name: "seeds", Value: 5, Usage: "random draws per k"},
			&cli.IntFlag{Name: "fidelity", Usage: "`BITS` of the kept shards (0: the highest stored)"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "output `DIR`"},
			&cli.StringFlag{Name: "backend", Value: "native", Usage: "tensor backend: native or gorgonia"},
			&cli.IntFlag{Name: "max-len", Value: elasticbench.DefaultMaxLen, Usage: "truncate inputs to `N` tokens"},
			&cli.BoolFlag{Name: "json", Usage: "print importance.json instead of the table"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
		},
		Action: func(c *cli.Context) error {
			set, err := benchSetup(c)
			if err != nil {
				return err
			}
			_, examples, err := benchExamples(c)
			if err != nil {
				return err
			}
			ks, err := parseList(c.String("k"), "--k", strconv.Atoi)
			if err != nil {
				return err
			}
			update, finish := progress.New("importance check", c.Bool("quiet"))
			rep, err := elasticbench.Importance(c.Context, elasticbench.ImportanceOptions{
				Setup: set, Data: c.String("data"), Examples: examples, Ks: ks, Seeds: c.Int("seeds"),
				Fidelity: quant.Fidelity(c.Int("fidelity")), Progress: update,
			})
			finish()
			if err != nil {
				return err
			}
			if err := rep.WriteFiles(c.String("out")); err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, rep)
			}
			rep.Markdown(c.App.Writer)
			return nil
		},
	}
}

func benchPlanRankCommand() *cli.Command {
	return &cli.Command{
		Name:  "plan-rank",
		Usage: "check the planner's additive loss model: predicted loss vs measured output divergence of whole plans",
		Description: `Plans --plans random requests (target between the smallest the planner
accepts and the full model's streaming time, budget up to a quarter of the
fp32 model, length 8 to 64, either planner) with the store's profiles, runs
each distinct plan with every version it uses held in memory on --data (keep
it apart from the profiling data: SST-2 dev.tsv), and reports each plan's
mean KL divergence from the full-fidelity model's label distribution and the
Spearman rank correlation between the predicted and the measured loss.
--throttle is the device the plans are made for.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "store", Required: true, Usage: "profiled shard store `URI`"},
			&cli.StringFlag{Name: "task", Value: "sst2", Usage: "GLUE `TASK` of --data"},
			&cli.StringFlag{Name: "data", Required: true, Usage: "labelled evaluation `FILE.tsv`"},
			&cli.IntFlag{Name: "limit", Usage: "use only the first `N` examples (0: all)"},
			&cli.IntFlag{Name: "plans", Value: 30, Usage: "number of distinct plans"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the random requests"},
			&cli.StringFlag{Name: "throttle", Usage: "plan for a slower storage device: `BANDWIDTH,LATENCY` per read"},
			&cli.StringFlag{Name: "backend", Value: "native", Usage: "tensor backend: native or gorgonia"},
			&cli.IntFlag{Name: "max-len", Value: elasticbench.DefaultMaxLen, Usage: "truncate inputs to `N` tokens"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON instead of the table"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
		},
		Action: func(c *cli.Context) error {
			set, err := benchSetup(c)
			if err != nil {
				return err
			}
			_, examples, err := benchExamples(c)
			if err != nil {
				return err
			}
			update, finish := progress.New("plan rank check", c.Bool("quiet"))
			rep, err := elasticbench.PlanRank(c.Context, elasticbench.PlanRankOptions{
				Setup: set, Data: c.String("data"), Examples: examples, Plans: c.Int("plans"), Seed: c.Uint64("seed"), Progress: update,
			})
			finish()
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, rep)
			}
			rep.Markdown(c.App.Writer)
			return nil
		},
	}
}

func benchPlanGapCommand() *cli.Command {
	return &cli.Command{
		Name:  "plan-gap",
		Usage: "the planners' gap to the lower bound on the loss, and their planning time, over a grid of requests",
		Description: `Plans a grid of requests with the store's profiles: --targets targets, log
spaced from 1.1 × the smallest the planner accepts to the time of streaming
the fp32 model, times --budgets, times --lengths, for each planner, and
reports each planner's gap to the lower bound on the loss of any plan for the
request (plan.LowerBound) and its planning time over the target (the least of
three runs). --throttle is the device the plans are made for.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "store", Required: true, Usage: "profiled shard store `URI`"},
			&cli.StringFlag{Name: "budgets", Value: "1MB,4MB,16MB", Usage: "comma-separated preload `BUDGETS`"},
			&cli.StringFlag{Name: "lengths", Value: "8,16,32,64", Usage: "comma-separated sequence `LENGTHS`"},
			&cli.IntFlag{Name: "targets", Value: 8, Usage: "number of `N` targets"},
			&cli.IntFlag{Name: "in-flight", Usage: "executor buffer `K` (0: the default)"},
			&cli.Float64Flag{Name: "loss-tolerance", Usage: "the planners' loss tolerance in `NATS` (0: the default; negative: the least loss whatever it reads)"},
			&cli.StringFlag{Name: "throttle", Usage: "plan for a slower storage device: `BANDWIDTH,LATENCY` per read"},
			&cli.StringFlag{Name: "backend", Value: "native", Usage: "tensor backend: native or gorgonia"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of the table"},
		},
		Action: func(c *cli.Context) error {
			set, err := benchSetup(c)
			if err != nil {
				return err
			}
			budgets, err := parseList(c.String("budgets"), "--budgets", units.ParseBytes)
			if err != nil {
				return err
			}
			lengths, err := parseList(c.String("lengths"), "--lengths", strconv.Atoi)
			if err != nil {
				return err
			}
			rows, err := elasticbench.PlanGap(c.Context, elasticbench.PlanGapOptions{
				Setup: set, Budgets: budgets, SeqLens: lengths, Targets: c.Int("targets"), InFlight: c.Int("in-flight"),
				LossTolerance: c.Float64("loss-tolerance"),
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, rows)
			}
			elasticbench.PlanGapMarkdown(c.App.Writer, rows)
			return nil
		},
	}
}

func benchGemmCommand() *cli.Command {
	return &cli.Command{
		Name:  "gemm",
		Usage: "measure matrix-multiply throughput (GFLOP/s) per backend at BERT layer shapes",
		Description: `Times out[M×N] = a[M×K]·w[N×K]ᵀ per backend and shape and reports the best round.
native-int8 (or native-int8-NAME for one int8 kernel family, e.g. amx,
avx512vnni, avx2) times native's integer product instead: int8 weights,
activations quantized on the fly, in GOPS. native-packed times native's
product of float32 weights packed beforehand, as a model held in memory has them.
--json prints [{"backend","m","k","n","gflops"}].`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "backends", Usage: "comma-separated `NAMES` (default: " + strings.Join(gemm.DefaultBackends, ",") + "; also native-int8[-NAME], native-packed)"},
			&cli.StringFlag{Name: "m", Usage: "comma-separated row counts `M` (default: 1,8,32,128)"},
			&cli.IntFlag{Name: "threads", Usage: "native backend threads (0: GOMAXPROCS)"},
			&cli.IntFlag{Name: "rounds", Usage: "timed rounds per shape, best kept (0: the package default)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error {
			opts := gemm.Options{Threads: c.Int("threads"), Rounds: c.Int("rounds")}
			var err error
			if b := c.String("backends"); b != "" {
				if opts.Backends, err = parseList(b, "--backends", func(s string) (string, error) { return s, nil }); err != nil {
					return err
				}
			}
			if m := c.String("m"); m != "" {
				if opts.M, err = parseList(m, "--m", strconv.Atoi); err != nil {
					return err
				}
			}
			res, err := gemm.Run(c.Context, opts)
			if err != nil {
				return err
			}
			return printGemm(c.App.Writer, res, c.Bool("json"))
		},
	}
}

func printGemm(w io.Writer, res []gemm.Result, asJSON bool) error {
	if asJSON {
		if res == nil {
			res = []gemm.Result{}
		}
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	if len(res) == 0 {
		return errors.New("bench gemm: nothing measured")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tm\tk\tn\tGFLOP/s\t")
	for _, r := range res {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2f\t\n", r.Backend, r.M, r.K, r.N, r.GFLOPS)
	}
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func benchStreamBoundCommand() *cli.Command {
	return &cli.Command{
		Name:  "stream-bound",
		Usage: "stream every shard at one fidelity and compare the latency with the bytes over the device's bandwidth",
		Description: `Serves --requests requests of --seq-len random tokens that each stream every
shard of --store at --bits, for each executor read depth in --queues, each
also with adjacent blobs merged into reads of up to --max-read-bytes, the
configurations interleaved one request at a time; and the same requests with
every shard preloaded (compute only). Prints p50 and min latency, the bytes
read, and, with --bound-bandwidth (the device's direct-IO rate, e.g. from dd
iflag=direct), the bound bytes/bandwidth and p50 over it.
scripts/bench-stream-bound.sh builds a BERT-base store and measures dd first.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "store", Required: true, Usage: "shard store `URI`"},
			&cli.StringFlag{Name: "throttle", Usage: "emulate a slower storage device: `BANDWIDTH,LATENCY` per read (add ,serial for one read at a time)"},
			&cli.IntFlag{Name: "requests", Value: 20, Usage: "`N` requests per configuration"},
			&cli.IntFlag{Name: "seq-len", Value: 32, Usage: "`TOKENS` per request"},
			&cli.StringFlag{Name: "queues", Value: "1,2,4,8", Usage: "comma-separated read `DEPTHS`"},
			&cli.StringFlag{Name: "max-read-bytes", Value: "4MiB", Usage: "merged reads of up to `BYTES` (0: no merged runs)"},
			&cli.IntFlag{Name: "in-flight", Value: 16, Usage: "in-flight blob `BUFFERS` of every configuration"},
			&cli.IntFlag{Name: "bits", Usage: "`BITS` every shard streams at (0: the highest stored)"},
			&cli.StringFlag{Name: "bound-bandwidth", Usage: "the device's `BANDWIDTH` (e.g. 1.8GB/s), for the bound"},
			&cli.StringFlag{Name: "backend", Value: "native", Usage: "tensor backend"},
			&cli.IntFlag{Name: "threads", Usage: "compute `THREADS` (0: for native one fewer than GOMAXPROCS, as WRX streams)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error {
			opts := elasticbench.StreamBoundOptions{Store: c.String("store"), Backend: c.String("backend"), Threads: c.Int("threads"),
				Requests: c.Int("requests"), SeqLen: c.Int("seq-len"), InFlight: c.Int("in-flight"), Bits: quant.Fidelity(c.Int("bits"))}
			var err error
			if t := c.String("throttle"); t != "" {
				if opts.Throttle, err = storage.ParseThrottle(t); err != nil {
					return err
				}
			}
			if opts.Queues, err = parseList(c.String("queues"), "--queues", strconv.Atoi); err != nil {
				return err
			}
			if opts.MaxReadBytes, err = units.ParseBytes(c.String("max-read-bytes")); err != nil {
				return fmt.Errorf("--max-read-bytes: %w", err)
			}
			var bw float64
			if b := c.String("bound-bandwidth"); b != "" {
				if bw, err = units.ParseBandwidth(b); err != nil {
					return fmt.Errorf("--bound-bandwidth: %w", err)
				}
			}
			rows, err := elasticbench.StreamBound(c.Context, opts)
			if err != nil {
				return err
			}
			return printStreamBound(c.App.Writer, rows, bw, c.Bool("json"))
		},
	}
}

func printStreamBound(w io.Writer, rows []elasticbench.StreamBoundRow, bw float64, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e6) }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "queue\tmerged\tp50 ms\tmin ms\tcompute wait ms\tread\treads\tbound ms\tp50/bound\t")
	for _, r := range rows {
		queue, merged, bound, ratio := strconv.Itoa(r.Queue), "-", "-", "-"
		if r.Queue == 0 {
			queue = "compute only"
		}
		if r.MaxReadBytes > 0 {
			merged = units.FormatBytes(r.MaxReadBytes)
		}
		if bw > 0 && r.IOBytes > 0 {
			b := time.Duration(float64(r.IOBytes) / bw * 1e9)
			bound, ratio = ms(b), fmt.Sprintf("%.3f", float64(r.P50)/float64(b))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t\n", queue, merged, ms(r.P50), ms(r.Min), ms(r.ComputeWait),
			units.FormatBytes(r.IOBytes), r.StorageReads, r.Reads, bound, ratio)
	}
	return tw.Flush()
}
