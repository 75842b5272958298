package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx/internal/progress"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

func convertCommand() *cli.Command {
	return &cli.Command{
		Name:  "convert",
		Usage: "convert a Hugging Face model into a shard store",
		Description: `Splits every layer into one shard per attention head, encodes each shard at
every requested fidelity (2-6 bits: outlier-aware dictionary quantization;
8: dictionary; 16: fp16; 32: fp32), and writes them, with the word embedding
rows and the manifest, to the store at --out:

  file:PATH     flat file with direct IO (the default storage)
  badger:PATH   Badger database

The write is atomic: an interrupted or failed convert leaves no store.`,
		Flags: []cli.Flag{modelFlag,
			&cli.StringFlag{Name: "out", Required: true, Usage: "store `URI` to create (file:PATH or badger:PATH)"},
			&cli.StringFlag{Name: "fidelities", Value: "2,3,4,5,6,8,16,32", Usage: "comma-separated `BITS` to store every shard at"},
			&cli.BoolFlag{Name: "overwrite", Usage: "replace an existing store at --out"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
		},
		Action: func(c *cli.Context) error {
			dir, err := modelDir(c)
			if err != nil {
				return err
			}
			fids, err := quant.ParseFidelities(c.String("fidelities"))
			if err != nil {
				return err
			}
			m, err := bert.Load(dir, bert.LoadOptions{})
			if err != nil {
				return err
			}
			tok, err := bert.LoadTokenizer(dir)
			if err != nil {
				return err
			}
			start := time.Now()
			return convertModel(c, m, tok, fids, shardstore.ConvertOptions{Source: dir}, start)
		},
	}
}

func convertModel(c *cli.Context, m *bert.Model, tok *bert.Tokenizer, fids []quant.Fidelity, opts shardstore.ConvertOptions, start time.Time) error {
	out := c.String("out")
	opts.Fidelities = fids
	opts.Overwrite = c.Bool("overwrite")
	update, finish := progress.New("converting", c.Bool("quiet"))
	opts.Progress = update
	defer finish()
	if err := shardstore.Convert(c.Context, out, m, tok, opts); err != nil {
		return err
	}
	s, err := shardstore.OpenURI(c.Context, out)
	if err != nil {
		return fmt.Errorf("reopen converted store: %w", err)
	}
	defer s.Close()
	var total int64
	for _, b := range s.Manifest().Blobs {
		total += b.Size
	}
	fmt.Fprintf(c.App.Writer, "wrote %s: %d layers × %d heads at fidelities %v, %s, in %.1fs\n",
		out, m.Config.Layers, m.Config.Heads, fids, units.FormatBytes(total), time.Since(start).Seconds())
	return nil
}
