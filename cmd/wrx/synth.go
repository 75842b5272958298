package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/model/synth"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// syntheticImportanceMetric labels the importance profile wrx synth writes.
const syntheticImportanceMetric = "synthetic: relative weight error²"

// randomWeightsNotice is said whenever a synthetic store is made or used.
const randomWeightsNotice = "its predictions and accuracy mean nothing; only latency and memory measured on it are meaningful"

func synthCommand() *cli.Command {
	return &cli.Command{
		Name:  "synth",
		Usage: "write a store of random weights with a real model's shapes, to measure latency and memory at its scale",
		Description: `Draws a model of random weights with the architecture of --like:

  bert-base        12 layers, 12 heads, hidden 768, intermediate 3072 (110M parameters)
  bert-large       24 layers, 16 heads, hidden 1024, intermediate 4096 (335M)
  distilbert-base  6 layers, 12 heads, hidden 768, intermediate 3072 (DistilBERT, 66M)
  wrx-sst2-small   6 layers, 12 heads, hidden 384, intermediate 1536 (BERT, 22M)

and converts it into a shard store at --out, as wrx convert does. The
weights look like a trained BERT's to the quantizer (Gaussian, std 0.025-0.05,
0.05% outliers at about 6 sigma, LayerNorm weights near 1, small biases), so
shard sizes, quantization and compute cost are realistic. The store is marked
synthetic, and wrx classify and eval warn when they use it: its predictions
and accuracy mean nothing. Only latency and memory measured on it are
meaningful.

The vocabulary is --vocab, else the bert-base-uncased vocab.txt of the shared
fixtures when they are found (WRX_SHARED), else a synthetic one in which every
word is [UNK] (one token per word).

With --uniform-importance (the default) the store also gets an importance
profile, so that wrx plan, classify --target and bench work on it without
wrx profile importance (which would measure nothing on random weights): the
loss of a shard version is its measured relative weight error squared,
sum ||w - q(w)||^2 / sum ||w||^2 over the shard's six matrices, and a dropped
shard costs 1. Every shard then matters alike, and fewer bits cost more. The
profile's metric reads "` + syntheticImportanceMetric + `".
Run wrx profile device on the store before planning.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "like", Required: true, Usage: "architecture `NAME`: " + strings.Join(synth.Likes(), ", ")},
			&cli.StringFlag{Name: "out", Required: true, Usage: "store `URI` to create (file:PATH or badger:PATH)"},
			&cli.StringFlag{Name: "fidelities", Value: "2,3,4,5,6,8,16,32", Usage: "comma-separated `BITS` to store every shard at"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "random `SEED`; the same seed gives the same weights"},
			&cli.IntFlag{Name: "labels", Value: 2, Usage: "number of output classes `N`"},
			&cli.StringFlag{Name: "vocab", Usage: "vocab.txt `FILE` with as many tokens as the architecture's vocabulary (30522)"},
			&cli.BoolFlag{Name: "uniform-importance", Value: true, Usage: "write a synthetic importance profile (relative weight error²) into the store"},
			&cli.BoolFlag{Name: "overwrite", Usage: "replace an existing store at --out"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
		},
		Action: synthAction,
	}
}

func synthAction(c *cli.Context) error {
	ctx, out, like, w := c.Context, c.String("out"), c.String("like"), c.App.Writer
	cfg, err := synth.Config(like)
	if err != nil {
		return fmt.Errorf("--like: %w", err)
	}
	fids, err := quant.ParseFidelities(c.String("fidelities"))
	if err != nil {
		return fmt.Errorf("--fidelities: %w", err)
	}
	if n := c.Int("labels"); n < 1 {
		return fmt.Errorf("--labels %d: a classifier needs at least one class", n)
	} else if n != len(cfg.Labels) {
		cfg.Labels = make([]string, n)
		for i := range cfg.Labels {
			cfg.Labels[i] = fmt.Sprintf("LABEL_%d", i)
		}
	}
	tok, vocabFrom, err := synthTokenizer(c.String("vocab"), cfg.VocabSize)
	if err != nil {
		return err
	}
	seed := c.Uint64("seed")
	fmt.Fprintf(w, "wrx synth: %s will hold a %s-shaped model of RANDOM WEIGHTS (seed %d): %s.\n", out, like, seed, randomWeightsNotice)
	fmt.Fprintf(w, "vocabulary: %s\n", vocabFrom)

	start := time.Now()
	m, err := synth.Model(cfg, seed)
	if err != nil {
		return err
	}
	drawn := time.Since(start)

	update, finish := newProgress("converting", c.Bool("quiet"))
	err = shardstore.Convert(ctx, out, m, tok, shardstore.ConvertOptions{
		Fidelities: fids, Progress: update, Synthetic: true, Overwrite: c.Bool("overwrite"),
		Source: fmt.Sprintf("wrx synth --like %s --seed %d", like, seed),
	})
	finish()
	if err != nil {
		return err
	}
	converted := time.Since(start) - drawn

	var profiled time.Duration
	if c.Bool("uniform-importance") {
		t0 := time.Now()
		p, err := syntheticImportance(c, out, m)
		if err != nil {
			return err
		}
		// The model is no longer needed; let the rewrite below run without
		// it resident.
		m = nil
		runtime.GC()
		if err := profile.SaveImportance(ctx, out, p); err != nil {
			return err
		}
		profiled = time.Since(t0)
	}

	s, err := shardstore.OpenURI(ctx, out)
	if err != nil {
		return fmt.Errorf("reopen synthesized store: %w", err)
	}
	defer s.Close()
	fmt.Fprintf(w, "wrote %s: %s, %d layers × %d heads, %.1fM parameters, in %s (draw %s, convert %s",
		out, like, cfg.Layers, cfg.Heads, float64(paramCount(cfg))/1e6, time.Since(start).Round(100*time.Millisecond),
		drawn.Round(100*time.Millisecond), converted.Round(100*time.Millisecond))
	if profiled > 0 {
		fmt.Fprintf(w, ", importance %s", profiled.Round(100*time.Millisecond))
	}
	fmt.Fprintln(w, ")")
	printStoreSizes(w, s)
	if c.Bool("uniform-importance") {
		fmt.Fprintf(w, "importance profile: synthetic (%s; dropped = 1), saved under %s\n", syntheticImportanceMetric, profile.ImportanceKey)
	} else {
		fmt.Fprintln(w, "no importance profile: the planner (wrx plan, classify --target) needs one; rerun with --uniform-importance")
	}
	fmt.Fprintf(w, "next: wrx profile device --store %s\n", out)
	fmt.Fprintf(w, "REMINDER: %s holds RANDOM WEIGHTS: %s.\n", out, randomWeightsNotice)
	return nil
}

// synthTokenizer returns the tokenizer for a synthetic model of vocabSize
// tokens and says where its vocabulary came from.
func synthTokenizer(path string, vocabSize int) (*bert.Tokenizer, string, error) {
	if path == "" {
		if d := shared.Dir(); d != "" {
			cand := filepath.Join(d, "fixtures", "tokenizer", bert.VocabFile)
			if _, err := os.Stat(cand); err == nil {
				path = cand
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, "", fmt.Errorf("shared vocabulary: %w", err)
			}
		}
	}
	if path == "" {
		v, err := synth.Vocab(vocabSize)
		if err != nil {
			return nil, "", err
		}
		tok, err := bert.NewTokenizer(v, bert.TokenizerOptions{})
		if err != nil {
			return nil, "", err
		}
		return tok, fmt.Sprintf("synthetic, %d tokens (special tokens + fillers: every word is [UNK])", vocabSize), nil
	}
	v, err := bert.LoadVocab(path)
	if err != nil {
		return nil, "", fmt.Errorf("--vocab: %w", err)
	}
	if v.Len() != vocabSize {
		return nil, "", fmt.Errorf("--vocab %s has %d tokens, the architecture's vocabulary has %d", path, v.Len(), vocabSize)
	}
	tok, err := bert.NewTokenizer(v.Tokens(), bert.TokenizerOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("--vocab %s: %w", path, err)
	}
	return tok, fmt.Sprintf("%s, %d tokens (uncased WordPiece)", path, v.Len()), nil
}

// syntheticImportance measures the weight error of every shard version in
// the store at uri against m and makes it an importance profile.
func syntheticImportance(c *cli.Context, uri string, m *bert.Model) (*plan.ImportanceProfile, error) {
	s, err := shardstore.OpenURI(c.Context, uri)
	if err != nil {
		return nil, err
	}
	// Closed before the caller rewrites the store: Badger allows one handle
	// per directory.
	defer s.Close()
	update, finish := newProgress("measuring weight errors", c.Bool("quiet"))
	bits, errs, err := synth.WeightErrors(c.Context, s, m, synth.ErrorOptions{Progress: update})
	finish()
	if err != nil {
		return nil, err
	}
	cfg := m.Config
	p := &plan.ImportanceProfile{
		Task: "synthetic", Metric: syntheticImportanceMetric,
		Layers: cfg.Layers, Heads: cfg.Heads, Bits: bits,
		Shards: make([][]plan.ShardImportance, cfg.Layers),
	}
	for l := range p.Shards {
		p.Shards[l] = make([]plan.ShardImportance, cfg.Heads)
		for h := range p.Shards[l] {
			p.Shards[l][h] = plan.ShardImportance{Loss: errs[l][h], Dropped: 1}
		}
	}
	return p, nil
}

// paramCount is the number of parameters of a model of architecture c.
func paramCount(c *bert.Config) int64 {
	H, I, L := int64(c.Hidden), int64(c.Intermediate), int64(len(c.Labels))
	emb := (int64(c.VocabSize)+int64(c.MaxPosition)+int64(c.TypeVocab))*H + 2*H
	layer := 4*(H*H+H) + 2*H + (H*I + I) + (I*H + H) + 2*H
	head := H*H + H + L*H + L
	return emb + int64(c.Layers)*layer + head
}

// printStoreSizes prints what the store holds per fidelity: all shard
// versions at that fidelity, and one whole model's worth of shards (the
// resident weight bytes of hold-in-memory at that fidelity).
func printStoreSizes(w io.Writer, s *shardstore.Store) {
	c, man := s.Config(), s.Manifest()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "bits\tall shards\tmean shard (attn+ffn)\t")
	var total, shards int64
	for _, b := range man.Blobs {
		total += b.Size
	}
	n := int64(c.Layers * c.Heads)
	for _, f := range man.Fidelities {
		var sum int64
		for l := range c.Layers {
			for h := range c.Heads {
				for _, p := range []shardstore.Part{shardstore.Attention, shardstore.FFN} {
					sum += max(s.Size(shardstore.Key{Layer: l, Head: h, Part: p, Fidelity: f}), 0)
				}
			}
		}
		shards += sum
		fmt.Fprintf(tw, "%d\t%s\t%s\t\n", int(f), units.FormatBytes(sum), units.FormatBytes(sum/n))
	}
	tw.Flush()
	fmt.Fprintf(w, "word embeddings %s, position embeddings + resident %s, profiles %s; %s in all\n",
		units.FormatBytes(man.Blobs[shardstore.WordKey].Size), units.FormatBytes(s.ResidentBytes()),
		units.FormatBytes(total-shards-man.Blobs[shardstore.WordKey].Size-s.ResidentBytes()), units.FormatBytes(total))
}

// warnIfSynthetic tells the user, on stderr, that a classifier's answers
// come from random weights.
func warnIfSynthetic(c *cli.Context, uri string, cl *wrx.Classifier) {
	if !cl.Synthetic() {
		return
	}
	fmt.Fprintf(c.App.ErrWriter, "warning: store %s holds RANDOM WEIGHTS: %s\n", uri, randomWeightsNotice)
}
