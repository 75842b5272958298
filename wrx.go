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
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wrxlabs/wrx/backend"
	_ "github.com/wrxlabs/wrx/backend/native" // DefaultBackend is always registered
	"github.com/wrxlabs/wrx/elastic"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/internal/rss"
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
	// At 4 bits, with such a backend, every layer is held as its 4-bit
	// codes and dictionaries and multiplied with integer kernels too
	// (bert.Model.FuseInt4, backend.Int4), and the word table at 8 bits.
	// It is ignored when Target is set.
	Fidelity quant.Fidelity
	// Throttle, for a store, emulates a slower device under it, e.g.
	// "100MB/s,0.5ms" (bandwidth, per-read latency). Empty: no throttle.
	Throttle string
	// Target, for a store, turns on the elastic pipeline: every request is
	// planned to answer within Target, streaming shard versions from the
	// store, within the memory Budget. The store needs importance and
	// device profiles ("wrx profile"). Zero: hold the model in memory at
	// Fidelity.
	Target time.Duration
	// Budget, with a Target, is the memory the model may take in the
	// process, in bytes: resident parts, activations for MaxLen tokens,
	// scratch, in-flight blob buffers and the preload buffer of shards
	// and word rows, all allocated once, outside the Go heap, and reused
	// by every request (plan.Footprint and plan.Divide say how it is
	// spent; Classifier.Memory reports it). A budget below what the
	// resident parts and one streamed blob need is refused with an error
	// naming that minimum (plan.ErrBudget). Zero means that minimum.
	// ModelRSS measures what the process actually took. The collected
	// heap's headroom is the program's: by default Go lets the heap grow
	// to twice what is live before collecting, so a program that wants
	// its resident set within the budget also sets a memory limit once
	// the classifier is open, as the wrx command does
	// (debug.SetMemoryLimit: what is live then, plus 512 KiB).
	Budget int64
	// Strategy names the planner: "optimal" (default) or "greedy" (the
	// paper's two-pass greedy).
	Strategy string
	// LossTolerance, with a Target, is how close two plans' predicted
	// losses must be for the planner to take the one that reads fewer
	// bytes (plan.Options.LossTolerance): zero means
	// plan.DefaultLossTolerance, a negative value the lowest loss found
	// whatever it reads.
	LossTolerance float64
	// BestEffort, with a Target, answers a request that no plan can
	// answer in time with the fastest plan that still depends on the
	// input, and marks it late (Prediction.Run.Late). The zero value
	// refuses it with an error wrapping ErrDeadline.
	BestEffort bool
}

// ErrDeadline is wrapped by the error of a request that no plan can answer
// within the target (Options.Target), counting from when Classify was
// called: the target is below the fastest plan that still depends on the
// input, or the requests queued ahead leave too little of it.
var ErrDeadline = plan.ErrDeadline

// Prediction is the result of classifying one input. How scores are made
// depends on the model's head (Problem): a softmax over the labels for a
// single-label classifier, a sigmoid per label for a multi-label one (any
// number of labels may apply: see Above), and the raw outputs for a
// regression or reranker head (one output: Score is the value).
type Prediction struct {
	Label  string             // the most likely label (the first output's, for a regression)
	Class  int                // its index
	Score  float32            // its probability, or the regression value
	Scores map[string]float32 // probability (or value) per label
	Logits []float32          // raw logits, one per label
	Tokens int                // tokens the model saw, [CLS] and [SEP] included
	// Problem is the model's head: bert.SingleLabel, bert.MultiLabel or
	// bert.Regression.
	Problem bert.ProblemType
	// Run describes the request in the elastic pipeline (Options.Target):
	// its plan, latency, IO and peak weight memory. Nil otherwise.
	Run *elastic.RunInfo
}

// engine computes logits for one tokenized input. Dense models and the
// elastic pipeline both implement it.
type engine interface {
	// logits answers a request that arrived, as text, at arrival; a
	// nonzero target replaces the elastic pipeline's for the request.
	logits(ctx context.Context, arrival time.Time, target time.Duration, ids, typeIDs []int) ([]float32, *elastic.RunInfo, error)
}

// Classifier classifies text. It is safe for concurrent use, Close
// included. Close it to release the store it reads, if any.
type Classifier struct {
	cfg    *bert.Config
	tok    *bert.Tokenizer
	eng    engine
	maxLen int
	// target is Options.Target when the elastic pipeline runs, else 0.
	target time.Duration
	close  func() error
	// synthetic: the store holds random weights (wrx synth).
	synthetic bool
	// floorRSS is the process's resident set when the classifier had its
	// tokenizer and no weights.
	floorRSS int64

	// Close stops new requests, cancels those in flight and waits for
	// them before it releases the store, so no request reads a closed
	// store and none outlives Close.
	mu       sync.Mutex
	closed   bool
	closeErr error
	inflight sync.WaitGroup
	closing  context.Context // cancelled, with cause ErrClosed, by Close
	shut     context.CancelCauseFunc
}

// Synthetic reports whether the model's weights are random (a store made
// by "wrx synth"): its latency and memory are real, its answers are not.
func (c *Classifier) Synthetic() bool { return c.synthetic }

// ErrClosed is returned by requests made after Close, and by requests in
// flight when Close is called, which it cancels.
var ErrClosed = errors.New("classifier is closed")

// Close releases the classifier's store. Requests in flight are cancelled:
// each returns promptly with an error wrapping ErrClosed (or its answer,
// if it finished first), and Close returns once they all have, so no
// goroutine of theirs outlives it. Later requests fail with ErrClosed. It
// is safe to call more than once, from any goroutine; every call returns
// the first one's result after the store is released.
func (c *Classifier) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.inflight.Wait()
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.closeErr
	}
	c.closed = true
	if c.shut != nil {
		c.shut(ErrClosed)
	}
	// Held while waiting, so that a concurrent Close returns only after
	// the store is released; requests that arrive meanwhile see closed.
	defer c.mu.Unlock()
	c.inflight.Wait()
	if c.close != nil {
		c.closeErr = c.close()
		c.close = nil
	}
	return c.closeErr
}

// begin registers a request; done must be called when it returns. The
// returned context is ctx, also cancelled by Close.
func (c *Classifier) begin(ctx context.Context) (context.Context, func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil, ErrClosed
	}
	c.inflight.Add(1)
	if c.closing == nil {
		c.closing, c.shut = context.WithCancelCause(context.Background())
	}
	rctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(c.closing, func() { cancel(ErrClosed) })
	return rctx, func() {
		stop()
		cancel(nil)
		c.inflight.Done()
	}, nil
}

// ErrEmptyText is returned for an input that has no text to classify.
var ErrEmptyText = bert.ErrEmptyText

// Open loads the model at source. A directory is read as a Hugging Face
// BERT or DistilBERT sequence classifier (config.json, model.safetensors
// or pytorch_model.bin, vocab.txt or tokenizer.json) and held in memory at
// float32. Anything else is taken as a store URI (see OpenStore). For a
// model on the Hugging Face hub, get its directory with ModelDir or Pull.
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
	// The model's description first: a directory that is no model is
	// named as such, before its vocabulary is missed.
	if _, err := bert.LoadConfig(source); err != nil {
		return nil, fmt.Errorf("wrx: open %s: %w", source, err)
	}
	tok, err := bert.LoadTokenizer(source)
	if err != nil {
		return nil, fmt.Errorf("wrx: open %s: %w", source, err)
	}
	if tok, err = withTruncation(tok, opts); err != nil {
		return nil, fmt.Errorf("wrx: open %s: %w", source, err)
	}
	floor := rss.Current() // the tokenizer, no weights yet
	m, err := bert.Load(source, bert.LoadOptions{})
	if err != nil {
		return nil, fmt.Errorf("wrx: open %s: %w", source, err)
	}
	if err := m.Fuse(); err != nil {
		return nil, fmt.Errorf("wrx: open %s: %w", source, err)
	}
	// Weights held for every request are packed once for the backend's
	// kernels, where it has them; in place, so memory does not grow.
	m.Pack(be)
	c := newClassifier(m.Config, tok, &denseEngine{m: m, be: be}, opts)
	c.floorRSS = floor
	return c, nil
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

// ModelRSS is the memory the model has taken in this process, as the
// operating system measures it: the process's peak resident set so far
// minus its resident set when Open had loaded the tokenizer and no
// weights. It is what Options.Budget bounds. It is 0 where the system does
// not report resident sets (only Linux's is read), and it counts whatever
// else the process allocated since Open, so it describes the model alone
// only in a process that does little else.
func (c *Classifier) ModelRSS() int64 {
	if c.floorRSS <= 0 {
		return 0
	}
	return max(rss.Peak()-c.floorRSS, 0)
}

// Memory is how the classifier spends its memory budget (Options.Budget):
// its fixed part, in-flight buffers and preload buffer. It is the zero
// Division for a model held in memory.
func (c *Classifier) Memory() plan.Division {
	if e, ok := c.eng.(*elasticEngine); ok {
		return e.r.Division()
	}
	return plan.Division{}
}

// Labels returns the model's labels, indexed by class.
func (c *Classifier) Labels() []string { return c.cfg.Labels }

// Config returns the model's architecture.
func (c *Classifier) Config() *bert.Config { return c.cfg }

// Tokenizer returns the model's tokenizer.
func (c *Classifier) Tokenizer() *bert.Tokenizer { return c.tok }

// Target is the latency target the classifier plans requests for
// (Options.Target), or 0 when it holds the model in memory.
func (c *Classifier) Target() time.Duration { return c.target }

// RequestOptions tunes one request. The zero value runs it as the
// classifier's Options say.
type RequestOptions struct {
	// Target, if nonzero, plans this request for Target instead of
	// Options.Target: a tighter target answers sooner and less accurately.
	// It needs the elastic pipeline (Options.Target).
	Target time.Duration
}

// Classify classifies one text.
func (c *Classifier) Classify(ctx context.Context, text string) (Prediction, error) {
	return c.ClassifyPairWith(ctx, text, "", RequestOptions{})
}

// ClassifyPair classifies a sentence pair (as for entailment or paraphrase
// tasks); an empty pair classifies text alone.
func (c *Classifier) ClassifyPair(ctx context.Context, text, pair string) (Prediction, error) {
	return c.ClassifyPairWith(ctx, text, pair, RequestOptions{})
}

// ClassifyPairWith classifies text, or a sentence pair if pair is not
// empty, with per-request options.
func (c *Classifier) ClassifyPairWith(ctx context.Context, text, pair string, ro RequestOptions) (Prediction, error) {
	arrival := time.Now() // a target bounds the latency from text to answer
	if ro.Target < 0 {
		return Prediction{}, fmt.Errorf("wrx: request target %v is negative", ro.Target)
	}
	if ro.Target > 0 && c.target == 0 {
		return Prediction{}, fmt.Errorf("wrx: a request target (%v) needs the elastic pipeline (Options.Target); this classifier holds its model in memory", ro.Target)
	}
	rctx, done, err := c.begin(ctx)
	if err != nil {
		return Prediction{}, fmt.Errorf("wrx: classify %q: %w", abbreviate(text), err)
	}
	defer done()
	enc, err := c.tok.Encode(text, pair, c.maxLen)
	if err != nil {
		return Prediction{}, fmt.Errorf("wrx: tokenize %q: %w", abbreviate(text), err)
	}
	logits, run, err := c.eng.logits(rctx, arrival, ro.Target, enc.InputIDs, enc.TokenTypeIDs)
	if err != nil {
		if ctx.Err() == nil && errors.Is(context.Cause(rctx), ErrClosed) {
			err = fmt.Errorf("%w during the request: %w", ErrClosed, err)
		}
		return Prediction{}, fmt.Errorf("wrx: classify %q: %w", abbreviate(text), err)
	}
	p := c.predict(logits, len(enc.InputIDs))
	p.Run = run
	return p, nil
}

func (c *Classifier) predict(logits []float32, tokens int) Prediction {
	problem := c.cfg.Problem()
	var probs []float32
	switch problem {
	case bert.MultiLabel:
		probs = make([]float32, len(logits))
		for i, l := range logits {
			probs[i] = float32(1 / (1 + math.Exp(-float64(l))))
		}
	case bert.Regression:
		probs = logits
	default:
		probs = bert.Softmax(logits)
	}
	p := Prediction{Scores: make(map[string]float32, len(probs)), Logits: logits, Tokens: tokens, Problem: problem}
	for i, v := range probs {
		p.Scores[c.cfg.Labels[i]] = v
		if i == 0 || v > p.Score {
			p.Class, p.Score = i, v
		}
	}
	p.Label = c.cfg.Labels[p.Class]
	return p
}

// Above returns the labels whose score exceeds threshold, highest first:
// for a multi-label model, the labels that apply (0.5 is the usual
// threshold).
func (p Prediction) Above(threshold float32) []string {
	var out []string
	for l, s := range p.Scores {
		if s > threshold {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if p.Scores[out[i]] != p.Scores[out[j]] {
			return p.Scores[out[i]] > p.Scores[out[j]]
		}
		return out[i] < out[j]
	})
	return out
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
	int4   bool      // multiply 4-bit shards with integer kernels (bert.Pass.UseInt4)
	passes sync.Pool // *bert.Pass, so that requests reuse their buffers
}

func (e *denseEngine) logits(ctx context.Context, _ time.Time, _ time.Duration, ids, typeIDs []int) ([]float32, *elastic.RunInfo, error) {
	p, _ := e.passes.Get().(*bert.Pass)
	if p == nil {
		p = bert.NewPass(e.be, e.m.Config, len(ids))
		p.UseInt4(e.int4)
	}
	l, err := e.m.ForwardWith(ctx, p, ids, typeIDs)
	e.passes.Put(p)
	return l, nil, err
}
