package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/progress"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/model/synth"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

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

The vocabulary is --vocab (for BERT shapes, a bert-base-uncased vocab.txt such
as ../shared/fixtures/tokenizer/vocab.txt), else a synthetic one in which
every word is [UNK] (one token per word).

With --uniform-importance (the default) the store also gets an importance
profile, so that wrx plan, classify --target and bench work on it without
wrx profile importance (which would measure nothing on random weights): the
loss of a shard version is its measured relative weight error squared,
sum ||w - q(w)||^2 / sum ||w||^2 over the shard's six matrices, and a dropped
shard costs 1. Every shard then matters alike, and fewer bits cost more. The
profile's metric reads "` + profile.WeightErrorMetric + `".
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
	fids, err := quant.ParseFidelities(c.String("fidelities"))
	if err != nil {
		return fmt.Errorf("--fidelities: %w", err)
	}
	if n := c.Int("labels"); n < 1 {
		return fmt.Errorf("--labels %d: a classifier needs at least one class", n)
	}
	if v := c.String("vocab"); v != "" {
		if _, err := os.Stat(v); err != nil {
			return fmt.Errorf("--vocab: %w", err)
		}
	}
	seed := c.Uint64("seed")
	fmt.Fprintf(w, "wrx synth: %s will hold a %s-shaped model of RANDOM WEIGHTS (seed %d): %s.\n", out, like, seed, randomWeightsNotice)
	bars := map[string]func(done, total int){}
	var finish func()
	res, err := wrx.Synthesize(ctx, out, wrx.SynthOptions{
		Like: like, Seed: seed, Labels: c.Int("labels"), Vocab: c.String("vocab"), Fidelities: fids,
		NoImportance: !c.Bool("uniform-importance"), Overwrite: c.Bool("overwrite"),
		Progress: func(stage string, done, total int) {
			if bars[stage] == nil {
				if finish != nil {
					finish()
				}
				bars[stage], finish = progress.New(stage, c.Bool("quiet"))
			}
			bars[stage](done, total)
		},
	})
	if finish != nil {
		finish()
	}
	if err != nil {
		return err
	}
	cfg := res.Config
	s, err := shardstore.OpenURI(ctx, out)
	if err != nil {
		return fmt.Errorf("reopen synthesized store: %w", err)
	}
	defer s.Close()
	fmt.Fprintf(w, "vocabulary: %s\n", res.Vocab)
	fmt.Fprintf(w, "wrote %s: %s, %d layers × %d heads, %.1fM parameters, in %s (draw %s, convert %s",
		out, like, cfg.Layers, cfg.Heads, float64(paramCount(cfg))/1e6, (res.Draw + res.Convert + res.Importance).Round(100*time.Millisecond),
		res.Draw.Round(100*time.Millisecond), res.Convert.Round(100*time.Millisecond))
	if res.Importance > 0 {
		fmt.Fprintf(w, ", importance %s", res.Importance.Round(100*time.Millisecond))
	}
	fmt.Fprintln(w, ")")
	printStoreSizes(w, s)
	if c.Bool("uniform-importance") {
		fmt.Fprintf(w, "importance profile: synthetic (%s; dropped = 1)\n", profile.WeightErrorMetric)
	} else {
		fmt.Fprintln(w, "no importance profile: the planner (wrx plan, classify --target) needs one; rerun with --uniform-importance")
	}
	fmt.Fprintf(w, "next: wrx profile device --store %s\n", out)
	fmt.Fprintf(w, "REMINDER: %s holds RANDOM WEIGHTS: %s.\n", out, randomWeightsNotice)
	return nil
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
