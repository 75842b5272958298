// Command e2e times end-to-end text classification with WRX, one sentence
// at a time (batch 1), for the comparison with ONNX Runtime and PyTorch that
// scripts/bench-e2e.sh runs:
//
//	go run ./bench/e2e --model /work/shared/models/wrx-sst2-small \
//	    --data /work/shared/data/glue/SST-2/dev.tsv --limit 200 \
//	    --backend native --threads 1 --json \
//	    --ids out/e2e/ids.jsonl --preds out/e2e/wrx-native-1.jsonl
//
// What is timed is the whole (*wrx.Classifier).Classify call: tokenization
// plus the forward pass plus the softmax over labels. The peers are handed
// the token ids this program writes with --ids and time only their forward
// pass, so WRX's figure includes work theirs do not; the tokenization cost
// is reported on its own (tokenize_median_ms) so it can be subtracted.
//
// Before timing, the first --warmup sentences are classified untimed. With
// --rounds R > 1 the whole set is timed R times and each sentence keeps its
// fastest time: the machine is shared, and the minimum is the figure least
// disturbed by other processes. The peers use the same rule.
//
// --threads sets GOMAXPROCS, so that the Go runtime uses no more cores than
// the peers are given, and, for the native backend, the backend's own
// Threads option (through a backend registered by this program).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/backend"
	_ "github.com/wrxlabs/wrx/backend/gorgonia"
	"github.com/wrxlabs/wrx/backend/native"
	"github.com/wrxlabs/wrx/glue"
	"github.com/wrxlabs/wrx/quant"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err == nil {
		err = run(ctx, cfg, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
}

// config holds the command line.
type config struct {
	model, data string
	store       string
	fidelity    int
	limit       int
	backend     string
	threads     int
	warmup      int
	rounds      int
	maxLen      int
	jsonOut     bool
	predsPath   string
	idsPath     string
	compare     string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("e2e", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.model, "model", "", "Hugging Face BERT classifier directory (this or --store is required)")
	fs.StringVar(&c.store, "store", "", "shard store URI (wrx convert) to hold in memory at --fidelity, instead of --model")
	fs.IntVar(&c.fidelity, "fidelity", 0, "with --store: the fidelity to hold the model at (8: int8 kernels, 4: 4-bit integer kernels); 0 means the highest stored")
	fs.StringVar(&c.data, "data", "", "SST-2 TSV file with a header line (required)")
	fs.IntVar(&c.limit, "limit", 200, "number of sentences from the start of --data; 0 means all")
	fs.StringVar(&c.backend, "backend", "native", "WRX backend: native or gorgonia (any registered name works)")
	fs.IntVar(&c.threads, "threads", 1, "cores to use (GOMAXPROCS, and native's Threads); 0 leaves GOMAXPROCS as it is")
	fs.IntVar(&c.warmup, "warmup", 10, "untimed classifications of the first sentences before timing")
	fs.IntVar(&c.rounds, "rounds", 1, "timed passes over the sentences; each sentence keeps its fastest")
	fs.IntVar(&c.maxLen, "max-len", wrx.DefaultMaxLen, "maximum tokens per sentence, [CLS] and [SEP] included")
	fs.BoolVar(&c.jsonOut, "json", false, "print the summary as one JSON object")
	fs.StringVar(&c.predsPath, "preds", "", "write one JSON line per sentence (i, line, gold, pred, logits, ms, tokens) to this file")
	fs.StringVar(&c.idsPath, "ids", "", "write one JSON line per sentence (i, line, gold, input_ids, token_type_ids) to this file, for the peers")
	fs.StringVar(&c.compare, "compare", "", "A,B: instead of timing, compare two --preds files of the same sentences (accuracies, 95% paired bootstrap interval of their difference)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.compare != "" {
		if a, b, ok := strings.Cut(c.compare, ","); !ok || a == "" || b == "" || strings.Contains(b, ",") {
			return c, fmt.Errorf("--compare %q: want two preds files, A,B", c.compare)
		}
		return c, nil
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments %q (every option is a flag)", fs.Args())
	case (c.model == "") == (c.store == ""):
		return c, errors.New("give one of --model and --store")
	case c.fidelity != 0 && c.store == "":
		return c, errors.New("--fidelity needs --store")
	case c.data == "":
		return c, errors.New("--data is required")
	case c.limit < 0:
		return c, fmt.Errorf("--limit %d: want 0 (all) or more", c.limit)
	case c.threads < 0:
		return c, fmt.Errorf("--threads %d: want 0 (GOMAXPROCS) or more", c.threads)
	case c.warmup < 0:
		return c, fmt.Errorf("--warmup %d: want 0 or more", c.warmup)
	case c.rounds < 1:
		return c, fmt.Errorf("--rounds %d: want 1 or more", c.rounds)
	case c.maxLen < 3:
		return c, fmt.Errorf("--max-len %d: want at least 3 ([CLS], one token, [SEP])", c.maxLen)
	}
	return c, nil
}

// result is the summary the program prints.
type result struct {
	Peer      string  `json:"peer"`
	Backend   string  `json:"backend"`
	Kernels   string  `json:"kernels,omitempty"` // native's instruction set
	Threads   int     `json:"threads"`
	Timed     string  `json:"timed"`
	Warmup    int     `json:"warmup"`
	Rounds    int     `json:"rounds"`
	Sentences int     `json:"sentences"`
	Tokens    float64 `json:"mean_tokens"`
	Accuracy  float64 `json:"accuracy"`
	Preds     string  `json:"preds,omitempty"` // the --preds file
	summary
	TokenizeMedian float64 `json:"tokenize_median_ms"`
	// Memory of the held model, from /proc/self/status (0 where there is
	// none): the resident set just before wrx.Open (the floor: runtime,
	// data set), the peak resident set at the end (VmHWM, loading
	// included) and the resident set after the timed run once the
	// garbage is collected and returned.
	RSSFloor    int64 `json:"rss_floor_bytes"`
	RSSPeak     int64 `json:"rss_peak_bytes"`
	RSSSteady   int64 `json:"rss_steady_bytes"`
	ModelPeak   int64 `json:"model_peak_bytes"`   // RSSPeak − RSSFloor
	ModelSteady int64 `json:"model_steady_bytes"` // RSSSteady − RSSFloor
}

// procStatus returns a field of /proc/self/status given in kB ("VmRSS",
// "VmHWM") in bytes, or 0 where there is no such file or field.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		f := strings.Fields(rest)
		if !ok || name != field || len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0
		}
		return n << 10
	}
	return 0
}

// record is one line of the --preds file; the peers write the same fields.
type record struct {
	I      int       `json:"i"`
	Line   int       `json:"line"`
	Gold   int       `json:"gold"`
	Pred   int       `json:"pred"`
	Logits []float32 `json:"logits"`
	MS     float64   `json:"ms"`
	Tokens int       `json:"tokens"`
}

// idsRecord is one line of the --ids file, the peers' input.
type idsRecord struct {
	I            int   `json:"i"`
	Line         int   `json:"line"`
	Gold         int   `json:"gold"`
	InputIDs     []int `json:"input_ids"`
	TokenTypeIDs []int `json:"token_type_ids"`
}

func run(ctx context.Context, cfg config, stdout io.Writer) error {
	if a, b, ok := strings.Cut(cfg.compare, ","); ok {
		return compare(a, b, cfg.jsonOut, stdout)
	}
	if cfg.threads > 0 {
		runtime.GOMAXPROCS(cfg.threads)
	}
	beName, kernels, err := backendName(cfg.backend, cfg.threads)
	if err != nil {
		return err
	}
	examples, err := glue.ReadFile(ctx, cfg.data, glue.SST2, cfg.limit)
	if err != nil {
		return err
	}
	if len(examples) == 0 {
		return fmt.Errorf("%s: no sentences", cfg.data)
	}
	source := cfg.model
	if cfg.store != "" {
		source = cfg.store
	}
	runtime.GC()
	debug.FreeOSMemory()
	floor := procStatus("VmRSS")
	c, err := wrx.Open(ctx, source, wrx.Options{Backend: beName, MaxLen: cfg.maxLen, Fidelity: quant.Fidelity(cfg.fidelity)})
	if err != nil {
		return err
	}
	defer c.Close()
	peer := "wrx-" + cfg.backend
	if cfg.fidelity != 0 {
		peer += fmt.Sprintf("-%dbit", cfg.fidelity)
		if cfg.backend == "native" && cfg.fidelity == 8 {
			kernels = "int8 " + native.New(native.Options{}).Int8Kernels()
		}
		if cfg.backend == "native" && cfg.fidelity == 4 {
			kernels = "int4 " + native.New(native.Options{}).Int4Kernels()
		}
	}
	if cfg.idsPath != "" {
		if err := writeIDs(cfg.idsPath, c, examples, cfg.maxLen); err != nil {
			return err
		}
	}

	for _, ex := range examples[:min(cfg.warmup, len(examples))] {
		if _, err := c.Classify(ctx, ex.Text); err != nil {
			return fmt.Errorf("warm-up, %s line %d: %w", cfg.data, ex.Line, err)
		}
	}
	runtime.GC() // start the timed loop without the warm-up's garbage

	best := make([]time.Duration, len(examples))
	recs := make([]record, len(examples))
	for r := range cfg.rounds {
		for i, ex := range examples {
			start := time.Now()
			p, err := c.Classify(ctx, ex.Text)
			d := time.Since(start)
			if err != nil {
				return fmt.Errorf("%s line %d: %w", cfg.data, ex.Line, err)
			}
			if r == 0 || d < best[i] {
				best[i] = d
			}
			if r == 0 {
				recs[i] = record{I: i, Line: ex.Line, Gold: ex.Label, Pred: p.Class, Logits: p.Logits, Tokens: p.Tokens}
			}
		}
	}
	tokenize, err := timeTokenize(c, examples, cfg.maxLen, cfg.rounds)
	if err != nil {
		return err
	}
	runtime.GC()
	debug.FreeOSMemory()
	steady, peak := procStatus("VmRSS"), procStatus("VmHWM")

	res := result{
		Peer: peer, Backend: cfg.backend, Kernels: kernels,
		Threads: runtime.GOMAXPROCS(0),
		Timed:   "Classify: tokenize + forward + softmax, batch 1",
		Warmup:  min(cfg.warmup, len(examples)), Rounds: cfg.rounds,
		Sentences: len(examples), Preds: cfg.predsPath, summary: summarize(best),
		TokenizeMedian: summarize(tokenize).Median,
		RSSFloor:       floor, RSSPeak: peak, RSSSteady: steady,
		ModelPeak: peak - floor, ModelSteady: steady - floor,
	}
	correct, tokens := 0, 0
	for i := range recs {
		recs[i].MS = float64(best[i]) / float64(time.Millisecond)
		if recs[i].Pred == recs[i].Gold {
			correct++
		}
		tokens += recs[i].Tokens
	}
	res.Accuracy = float64(correct) / float64(len(recs))
	res.Tokens = float64(tokens) / float64(len(recs))
	if cfg.predsPath != "" {
		if err := writeJSONL(cfg.predsPath, recs); err != nil {
			return err
		}
	}
	if cfg.jsonOut {
		return json.NewEncoder(stdout).Encode(res)
	}
	_, err = fmt.Fprintf(stdout,
		"%s (kernels %q), %d threads: %d sentences, %.1f tokens on average, batch 1, %d warm-up, best of %d round(s)\n"+
			"timed: %s\n"+
			"median %.3f ms  p95 %.3f ms  mean %.3f ms  min %.3f ms  max %.3f ms  (tokenize alone: median %.3f ms)\n"+
			"accuracy %.4f\n"+
			"memory: model %.1f MB peak (VmHWM), %.1f MB steady (VmRSS after GC), above a floor of %.1f MB\n",
		res.Peer, res.Kernels, res.Threads, res.Sentences, res.Tokens, res.Warmup, res.Rounds,
		res.Timed, res.Median, res.P95, res.Mean, res.Min, res.Max, res.TokenizeMedian, res.Accuracy,
		float64(res.ModelPeak)/1e6, float64(res.ModelSteady)/1e6, float64(res.RSSFloor)/1e6)
	return err
}

// backendName returns the registry name wrx.Open should use. The registry's
// "native" uses GOMAXPROCS threads; to set Threads explicitly this program
// registers a native backend of its own per thread count. kernels names
// native's instruction set ("" for other backends).
func backendName(name string, threads int) (reg, kernels string, err error) {
	if name != "native" {
		if _, err := backend.Get(name); err != nil {
			return "", "", fmt.Errorf("--backend: %w", err)
		}
		return name, "", nil
	}
	opts := native.Options{Threads: threads}
	reg = fmt.Sprintf("native-e2e-threads-%d", threads)
	if !slices.Contains(backend.Names(), reg) {
		backend.Register(reg, func(backend.Config) (backend.Backend, error) { return native.New(opts), nil })
	}
	return reg, native.New(opts).Kernels(), nil
}

// timeTokenize times tokenization alone, the part of Classify that the
// peers do not run, with the same best-of-rounds rule.
func timeTokenize(c *wrx.Classifier, examples []glue.Example, maxLen, rounds int) ([]time.Duration, error) {
	best := make([]time.Duration, len(examples))
	for r := range rounds {
		for i, ex := range examples {
			start := time.Now()
			_, err := c.Tokenizer().Encode(ex.Text, "", maxLen)
			d := time.Since(start)
			if err != nil {
				return nil, fmt.Errorf("tokenize line %d: %w", ex.Line, err)
			}
			if r == 0 || d < best[i] {
				best[i] = d
			}
		}
	}
	return best, nil
}

func writeIDs(path string, c *wrx.Classifier, examples []glue.Example, maxLen int) error {
	recs := make([]idsRecord, len(examples))
	for i, ex := range examples {
		enc, err := c.Tokenizer().Encode(ex.Text, "", maxLen)
		if err != nil {
			return fmt.Errorf("tokenize line %d: %w", ex.Line, err)
		}
		recs[i] = idsRecord{I: i, Line: ex.Line, Gold: ex.Label, InputIDs: enc.InputIDs, TokenTypeIDs: enc.TokenTypeIDs}
	}
	return writeJSONL(path, recs)
}

func writeJSONL[T any](path string, recs []T) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := range recs {
		if err := enc.Encode(recs[i]); err != nil {
			f.Close()
			return fmt.Errorf("write %s line %d: %w", path, i+1, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
