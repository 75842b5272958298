package wrx

import (
	"context"
	"fmt"
	"time"

	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/model/synth"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// SynthOptions configures Synthesize. The zero value draws seed 0 with the
// architecture's labels and a synthetic vocabulary, stores every fidelity,
// and writes a weight-error importance profile.
type SynthOptions struct {
	// Like names the architecture (synth.Likes); it is required.
	Like string
	// Seed draws the weights; the same seed gives the same weights.
	Seed uint64
	// Labels is the number of output classes; 0 keeps the architecture's.
	Labels int
	// Vocab is a vocab.txt with as many tokens as the architecture's
	// vocabulary; "" means a synthetic one in which every word is [UNK].
	Vocab string
	// Fidelities to store every shard at; nil means all of them.
	Fidelities []quant.Fidelity
	// NoImportance skips the weight-error importance profile
	// (profile.WeightErrorImportance) that lets the planner run on the
	// store without profiling importance, which means nothing on random
	// weights.
	NoImportance bool
	// Overwrite replaces an existing store at the URI.
	Overwrite bool
	// Progress, if set, reports each stage ("convert", "importance").
	Progress func(stage string, done, total int)
}

// SynthResult describes a store Synthesize made.
type SynthResult struct {
	Config *bert.Config
	// Vocab says where the vocabulary came from.
	Vocab string
	// Draw, Convert and Importance are how long each stage took.
	Draw, Convert, Importance time.Duration
}

// Synthesize writes a shard store at uri holding a model of random weights
// with the shapes of a real one (model/synth), to measure latency and
// memory at its scale. The store is marked synthetic: classifiers opened
// on it say so (Classifier.Synthetic), since its answers mean nothing.
func Synthesize(ctx context.Context, uri string, opts SynthOptions) (*SynthResult, error) {
	cfg, err := synth.Config(opts.Like)
	if err != nil {
		return nil, fmt.Errorf("wrx: synthesize: %w", err)
	}
	if opts.Labels < 0 {
		return nil, fmt.Errorf("wrx: synthesize: %d labels: a classifier needs at least one class", opts.Labels)
	}
	if opts.Labels > 0 && opts.Labels != len(cfg.Labels) {
		cfg.Labels = make([]string, opts.Labels)
		for i := range cfg.Labels {
			cfg.Labels[i] = fmt.Sprintf("LABEL_%d", i)
		}
	}
	res := &SynthResult{Config: cfg}
	tok, err := synthTokenizer(opts.Vocab, cfg.VocabSize, res)
	if err != nil {
		return nil, fmt.Errorf("wrx: synthesize: %w", err)
	}
	progress := func(stage string) func(done, total int) {
		if opts.Progress == nil {
			return nil
		}
		return func(done, total int) { opts.Progress(stage, done, total) }
	}

	start := time.Now()
	m, err := synth.Model(cfg, opts.Seed)
	if err != nil {
		return nil, fmt.Errorf("wrx: synthesize: %w", err)
	}
	res.Draw = time.Since(start)
	start = time.Now()
	err = shardstore.Convert(ctx, uri, m, tok, shardstore.ConvertOptions{
		Fidelities: opts.Fidelities, Progress: progress("convert"), Synthetic: true, Overwrite: opts.Overwrite,
		Source: fmt.Sprintf("wrx synth --like %s --seed %d", opts.Like, opts.Seed),
	})
	if err != nil {
		return nil, fmt.Errorf("wrx: synthesize: %w", err)
	}
	res.Convert = time.Since(start)
	if opts.NoImportance {
		return res, nil
	}
	start = time.Now()
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		return nil, fmt.Errorf("wrx: synthesize: %w", err)
	}
	defer s.Close()
	p, err := profile.WeightErrorImportance(ctx, s, m, profile.ErrorOptions{Progress: progress("importance")})
	if err != nil {
		return nil, fmt.Errorf("wrx: synthesize: %w", err)
	}
	if err := profile.SaveImportance(ctx, uri, s, p); err != nil {
		return nil, fmt.Errorf("wrx: synthesize: %w", err)
	}
	res.Importance = time.Since(start)
	return res, nil
}

// synthTokenizer returns the tokenizer for a synthetic model of vocabSize
// tokens and records in res where its vocabulary came from.
func synthTokenizer(path string, vocabSize int, res *SynthResult) (*bert.Tokenizer, error) {
	if path == "" {
		v, err := synth.Vocab(vocabSize)
		if err != nil {
			return nil, err
		}
		res.Vocab = fmt.Sprintf("synthetic, %d tokens (special tokens + fillers: every word is [UNK])", vocabSize)
		return bert.NewTokenizer(v, bert.TokenizerOptions{})
	}
	v, err := bert.LoadVocab(path)
	if err != nil {
		return nil, fmt.Errorf("vocabulary: %w", err)
	}
	if v.Len() != vocabSize {
		return nil, fmt.Errorf("vocabulary %s has %d tokens, the architecture's has %d", path, v.Len(), vocabSize)
	}
	tok, err := bert.NewTokenizer(v.Tokens(), bert.TokenizerOptions{})
	if err != nil {
		return nil, fmt.Errorf("vocabulary %s: %w", path, err)
	}
	res.Vocab = fmt.Sprintf("%s, %d tokens (uncased WordPiece)", path, v.Len())
	return tok, nil
}
