// Package wrx classifies text with BERT-family models on small devices.
//
// Open a Hugging Face model directory, or a shard store made by
// "wrx convert" (or DefaultStore), and classify:
//
//	c, err := wrx.Open(ctx, "models/my-bert-classifier", wrx.Options{})
//	p, err := c.Classify(ctx, "a charming and often affecting journey")
//	fmt.Println(p.Label, p.Score)
//
// A store is opened by URI (file:PATH, badger:PATH, mem:NAME). From a store
// the model runs either held in memory at one fidelity (Options.Fidelity) or
// streamed shard by shard under a latency target and memory budget
// (Options.Target, Options.Budget), which is what WRX is for.
//
// The packages below wrx do the work: model/bert (tokenizer, import, forward
// pass over head shards), backend (tensor kernels), storage (shard stores)
// and elastic (planning and streaming shards under a deadline).
package wrx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/wrxlabs/wrx/backend"
	_ "github.com/wrxlabs/wrx/backend/native" // DefaultBackend is always registered
	"github.com/wrxlabs/wrx/elastic"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
)

// DefaultBackend is the backend used when Options.Backend is empty.
const DefaultBackend = "native"

// DefaultMaxLen is the token limit used when Options.MaxLen is zero. It is
// the length the bundled models were evaluated at.
const DefaultMaxLen = 128

// Options configures a Classifier. The zero value runs the native backend
// with sequences truncated to DefaultMaxLen tokens.
type Options struct {
	// Backend names a registered backend ("native", "gorgonia", ...). Import
	// the backend's package to register it; native is always registered.
	Backend string
	// Threads bounds the backend's worker threads (backend.Config.Threads);
	// a backend that cannot bound them, such as gorgonia, makes Open fail
	// when it is set. 0 means the backend's default: GOMAXPROCS for
	// native, or with a Target one fewer (pipeline.ComputeThreads), the
	// thread count the device profile is measured with. Native's results
	// are bit-identical whatever the thread count.
	Threads int
	// MaxLen is the maximum number of tokens per input, [CLS] and [SEP]
	// included; longer inputs are truncated longest-first. 0 means
	// DefaultMaxLen.
	MaxLen int
	// Truncation, if bert.TruncatePython, cuts a sentence pair too long
	// for MaxLen as transformers' slow BertTokenizer does. The zero value
	// keeps the model's tokenizer setting: Hugging Face's Rust tokenizer
	// (bert.TruncateRust, what AutoTokenizer gives) for a model directory
	// and for every store "wrx convert" writes.
	Truncation bert.Truncation
	// Fidelity, for a store, holds every shard in memory at this many bits
	// (one of the store's fidelities). 0 means the highest stored fidelity.
	// At 8 bits, with a backend that has integer kernels (native), every
	// layer is held as int8 and multiplied with int8 arithmetic, the
	// activations quantized per token on the fly (bert.Model.FuseInt8).
	// It is ignored when Target is set.
	Fidelity quant.Fidelity
	// Throttle, for a store, emulates a slower device under it, e.g.
	// "100MB/s,0.5ms" (bandwidth, per-read latency). Empty: no throttle.
	Throttle string
	// Target, for a store, turns on the elastic pipeline: every request is
	// planned to answer within Target, streaming shard versions from the
	// store, with at most Budget bytes of shards kept resident between
	// requests. The store needs importance and device profiles ("wrx
	// profile"). Zero: hold the model in memory at Fidelity.
	Target time.Duration
	// Budget is the elastic pipeline's preload buffer size in bytes.
	Budget int64
	// Strategy names the planner: "optimal" (default) or "greedy" (the
	// paper's two-pass greedy).
	Strategy string
}

// Prediction is the result of classifying one input.
type Prediction struct {
	Label  string             // the most likely label
	Class  int                // its index
	Score  float32            // its probability
	Scores map[string]float32 // probability per label
	Logits []float32          // raw logits, one per label
	Tokens int                // tokens the model saw, [CLS] and [SEP] included
	// Run describes the request in the elastic pipeline (Options.Target):
	// its plan, latency, IO and peak weight memory. Nil otherwise.
	Run *elastic.RunInfo
}

// engine computes logits for one tokenized input. Dense models and the
// elastic pipeline both implement it.
type engine interface {
	logits(ctx context.Context, ids, typeIDs []int) ([]float32, *elastic.RunInfo, error)
}

// Classifier classifies text. It is safe for concurrent use. Close it to
// release the store it reads, if any.
type Classifier struct {
	cfg    *bert.Config
	tok    *bert.Tokenizer
	eng    engine
	maxLen int
	close  func() error
	// synthetic: the store holds random weights (wrx synth).
	synthetic bool
}

// Synthetic reports whether the model's weights are random (a store made
// by "wrx synth"): its latency and memory are real, its answers are not.
func (c *Classifier) Synthetic() bool { return c.synthetic }

// Close releases the classifier's store. It is safe to call more than once.
func (c *Classifier) Close() error {
	if c.close == nil {
		return nil
	}
	f := c.close
	c.close = nil
	return f()
}

// ErrEmptyText is returned for an input that has no text to classify.
var ErrEmptyText = bert.ErrEmptyText

// Open loads the model at source. A directory is read as a Hugging Face
// BERT or DistilBERT sequence classifier (config.json, model.safetensors,
// vocab.txt) and held in memory at float32. Anything else is taken as a
// store URI (see OpenStore).
func Open(ctx context.Context, source string, opts Options) (*Classifier, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if st, err := os.Stat(source); err != nil || !st.IsDir() {
		if isStoreURI(source) {
			return OpenStore(ctx, source, opts)
		}
		if err != nil {
			return nil, fmt.Errorf("wrx: open %s: %w", source, err)
		}
		return nil, fmt.Errorf("wrx: open %s: not a model directory or a store URI (%s)", source, strings.Join(storeSchemes(), ", "))
	}
	be, err := backendFor(opts)
	if err != nil {
		return nil, err
	}
	m, err := bert.Load(source, bert.LoadOptions{})
	if err != nil {
		return nil, fmt.Errorf("wrx: open %s: %w", source, err)
	}
	tok, err := bert.LoadTokenizer(source)
	if err != nil {
		return nil, fmt.Errorf("wrx: open %s: %w", source, err)
	}
	if tok, err = withTruncation(tok, opts); err != nil {
		return nil, fmt.Errorf("wrx: open %s: %w", source, err)
	}
	if err := m.Fuse(); err != nil {
		return nil, fmt.Errorf("wrx: open %s: %w", source, err)
	}
	return newClassifier(m.Config, tok, &denseEngine{m: m, be: be}, opts), nil
}

// withTruncation applies Options.Truncation to a model's tokenizer.
func withTruncation(tok *bert.Tokenizer, opts Options) (*bert.Tokenizer, error) {
	if opts.Truncation == bert.TruncateRust {
		return tok, nil
	}
	return tok.WithTruncation(opts.Truncation)
}

func backendFor(opts Options) (backend.Backend, error) {
	name := opts.Backend
	if name == "" {
		name = DefaultBackend
	}
	be, err := backend.Open(name, backend.Config{Threads: opts.Threads})
	if err != nil {
		return nil, fmt.Errorf("wrx: %w", err)
	}
	return be, nil
}

func newClassifier(cfg *bert.Config, tok *bert.Tokenizer, eng engine, opts Options) *Classifier {
	maxLen := opts.MaxLen
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	return &Classifier{cfg: cfg, tok: tok, eng: eng, maxLen: maxLen}
}

// Labels returns the model's labels, indexed by class.
func (c *Classifier) Labels() []string { return c.cfg.Labels }

// Config returns the model's architecture.
func (c *Classifier) Config() *bert.Config { return c.cfg }

// Tokenizer returns the model's tokenizer.
func (c *Classifier) Tokenizer() *bert.Tokenizer { return c.tok }

// Classify classifies one text.
func (c *Classifier) Classify(ctx context.Context, text string) (Prediction, error) {
	return c.ClassifyPair(ctx, text, "")
}

// ClassifyPair classifies a sentence pair (as for entailment or paraphrase
// tasks); an empty pair classifies text alone.
func (c *Classifier) ClassifyPair(ctx context.Context, text, pair string) (Prediction, error) {
	enc, err := c.tok.Encode(text, pair, c.maxLen)
	if err != nil {
		return Prediction{}, fmt.Errorf("wrx: tokenize %q: %w", abbreviate(text), err)
	}
	logits, run, err := c.eng.logits(ctx, enc.InputIDs, enc.TokenTypeIDs)
	if err != nil {
		return Prediction{}, fmt.Errorf("wrx: classify %q: %w", abbreviate(text), err)
	}
	p := c.predict(logits, len(enc.InputIDs))
	p.Run = run
	return p, nil
}

func (c *Classifier) predict(logits []float32, tokens int) Prediction {
	probs := bert.Softmax(logits)
	p := Prediction{Scores: make(map[string]float32, len(probs)), Logits: logits, Tokens: tokens}
	for i, v := range probs {
		p.Scores[c.cfg.Labels[i]] = v
		if i == 0 || v > p.Score {
			p.Class, p.Score = i, v
		}
	}
	p.Label = c.cfg.Labels[p.Class]
	return p
}

// IsEmptyText reports whether err means the input had no text.
func IsEmptyText(err error) bool { return errors.Is(err, ErrEmptyText) }

func abbreviate(s string) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 40 {
		return string(r[:37]) + "..."
	}
	return s
}

type denseEngine struct {
	m      *bert.Model
	be     backend.Backend
	passes sync.Pool // *bert.Pass, so that requests reuse their buffers
}

func (e *denseEngine) logits(ctx context.Context, ids, typeIDs []int) ([]float32, *elastic.RunInfo, error) {
	p, _ := e.passes.Get().(*bert.Pass)
	if p == nil {
		p = bert.NewPass(e.be, e.m.Config, len(ids))
	}
	l, err := e.m.ForwardWith(ctx, p, ids, typeIDs)
	e.passes.Put(p)
	return l, nil, err
}
