package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/internal/progress"
	"github.com/wrxlabs/wrx/internal/rss"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
)

var (
	modelFlag = &cli.StringFlag{
		Name:  "model",
		Usage: "Hugging Face model `DIR` (config.json, model.safetensors or pytorch_model.bin, vocab.txt or tokenizer.json), or a hub model id ORG/NAME[@REVISION], read from the hub cache and pulled on first use",
	}
	backendFlag = &cli.StringFlag{
		Name:  "backend",
		Value: wrx.DefaultBackend,
		Usage: "tensor backend: native or gorgonia",
	}
	maxLenFlag = &cli.IntFlag{
		Name:  "max-len",
		Value: wrx.DefaultMaxLen,
		Usage: "truncate inputs to `N` tokens, [CLS] and [SEP] included",
	}
	truncationFlag = &cli.StringFlag{
		Name:  "truncation",
		Value: bert.TruncateRust.String(),
		Usage: "cut a sentence pair too long for --max-len as `MODE` does: rust (Hugging Face's Rust tokenizer, what AutoTokenizer gives) or python (the slow Python BertTokenizer)",
	}
	jsonFlag  = &cli.BoolFlag{Name: "json", Usage: "print JSON"}
	storeFlag = &cli.StringFlag{
		Name:  "store",
		Usage: "shard store `URI` made by wrx convert (file:PATH, badger:PATH); default: --model converted into the default storage",
	}
	fidelityFlag = &cli.IntFlag{
		Name:  "fidelity",
		Usage: "hold every shard in memory at `BITS` (2,3,4,5,6,8,16,32); 0: the highest stored",
	}
	throttleFlag = &cli.StringFlag{
		Name:  "throttle",
		Usage: "emulate a slower storage device: `BANDWIDTH,LATENCY` per read, e.g. 100MB/s,0.5ms (concurrent reads overlap their latencies; add ,serial for one read at a time)",
	}
	quietFlag   = &cli.BoolFlag{Name: "quiet", Usage: "no progress output"}
	threadsFlag = &cli.IntFlag{Name: "threads", Usage: "backend worker `N` (0: all CPUs for native, with --target one fewer, as wrx profile device measures; gorgonia takes only 0)"}
	targetFlag  = &cli.DurationFlag{
		Name:  "target",
		Usage: "answer within `LATENCY` (e.g. 80ms): stream planned shards from the store instead of holding the model",
	}
	budgetFlag = &cli.StringFlag{
		Name:  "budget",
		Value: "4MB",
		Usage: "with --target: the memory the model may take, in `BYTES`: resident parts, activations, in-flight blobs and the preload buffer (0: the least that runs)",
	}
	plannerFlag = &cli.StringFlag{
		Name:  "planner",
		Value: "optimal",
		Usage: "with --target: optimal (our optimizer) or greedy (the paper's two-pass greedy)",
	}
	bestEffortFlag = &cli.BoolFlag{
		Name:  "best-effort",
		Usage: "with --target: answer a request no plan can answer in time with the fastest plan, marked late, instead of refusing it",
	}
)

// modelFlags are the flags that choose and run a model.
func modelFlags() []cli.Flag {
	return []cli.Flag{modelFlag, storeFlag, backendFlag, maxLenFlag, truncationFlag, fidelityFlag, throttleFlag, quietFlag,
		targetFlag, budgetFlag, plannerFlag, bestEffortFlag, threadsFlag}
}

// truncation parses --truncation.
func truncation(c *cli.Context) (bert.Truncation, error) {
	m, err := bert.ParseTruncation(c.String(truncationFlag.Name))
	if err != nil {
		return 0, fmt.Errorf("--truncation: %w", err)
	}
	return m, nil
}

var errNoModel = errors.New("--model is required: a Hugging Face model directory or hub id ORG/NAME (or --store URI)")

// storeURI returns the store the flags name: --store, or --model converted
// into the default storage on first use.
func storeURI(c *cli.Context) (string, error) {
	if uri := c.String("store"); uri != "" {
		return uri, nil
	}
	dir, err := modelDir(c)
	if err != nil {
		return "", err
	}
	update, finish := progress.New("converting "+c.String("model")+" into the default store (once)", c.Bool("quiet"))
	uri, converted, err := wrx.DefaultStore(c.Context, dir, wrx.DefaultStoreOptions{Progress: update})
	finish()
	if err != nil {
		return "", err
	}
	if converted && !c.Bool("quiet") {
		fmt.Fprintf(c.App.ErrWriter, "converted %s into the default store %s\n", dir, uri)
	}
	return uri, nil
}

// openClassifier opens the model the command's flags name.
func openClassifier(c *cli.Context) (*wrx.Classifier, error) {
	name := c.String("backend")
	if _, err := backend.Get(name); err != nil {
		return nil, err
	}
	trunc, err := truncation(c)
	if err != nil {
		return nil, err
	}
	uri, err := storeURI(c)
	if err != nil {
		return nil, err
	}
	budget, err := units.ParseBytes(c.String("budget"))
	if err != nil {
		return nil, fmt.Errorf("--budget: %w", err)
	}
	// The model's measured memory (Classifier.ModelRSS) starts from a floor
	// taken while opening; the program's own code is made resident first,
	// so that the code a first request runs is not counted as the model's.
	if err := rss.LoadProgram(); err != nil && !c.Bool("quiet") {
		fmt.Fprintf(c.App.ErrWriter, "warning: the model's measured memory will include program code: %v\n", err)
	}
	restoreGC := rss.LimitOpening()
	defer restoreGC()
	cl, err := wrx.OpenStore(c.Context, uri, wrx.Options{
		Backend:    name,
		Threads:    c.Int("threads"),
		MaxLen:     c.Int("max-len"),
		Truncation: trunc,
		Fidelity:   quant.Fidelity(c.Int("fidelity")),
		Throttle:   c.String("throttle"),
		Target:     c.Duration("target"),
		Budget:     budget,
		Strategy:   c.String("planner"),
		BestEffort: c.Bool("best-effort"),
	})
	if err != nil {
		return nil, err
	}
	warnIfSynthetic(c, uri, cl)
	// This keeps the requests' garbage from growing the heap to twice
	// what is live, which would show as model memory: a streaming model's
	// memory is off the collected heap and fixed by --budget, and a held
	// one's is what it holds.
	restoreGC()
	rss.LimitHeap(rss.HeapHeadroom)
	return cl, nil
}
