package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/hub"
	"github.com/wrxlabs/wrx/internal/progress"
)

func pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "download a model from the Hugging Face hub into its cache",
		ArgsUsage: "ORG/NAME[@REVISION]",
		Description: `Downloads the files WRX needs of a hub model (config.json, the safetensors
weights, single or sharded, else pytorch_model.bin, and the tokenizer files)
into the Hugging Face cache the Python tools share ($HF_HOME/hub, by default
~/.cache/huggingface/hub), and prints the snapshot directory. REVISION is a
branch, tag or commit (default main). An interrupted download resumes; a file
that does not match the hub's sha256 is removed. Afterwards any command takes
--model ORG/NAME[@REVISION] and reads the cache without the network.

Environment: HF_ENDPOINT (the hub), HF_TOKEN (private and gated models; else
the token huggingface-cli login saved), HF_HOME or HF_HUB_CACHE (the cache),
HF_HUB_OFFLINE=1 (no network: only check the cache).`,
		Flags: []cli.Flag{quietFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("pull takes one model id, ORG/NAME[@REVISION]; got %d arguments", c.NArg())
			}
			opts, finish := hubOptions(c)
			dir, err := wrx.Pull(c.Context, c.Args().First(), opts)
			finish()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(c.App.Writer, dir)
			return err
		},
	}
}

// hubOptions are the hub options of a command: the environment, and a
// progress bar per file on a terminal. Call finish when the pull is over.
func hubOptions(c *cli.Context) (opts hub.Options, finish func()) {
	quiet := c.Bool("quiet")
	cur := ""
	update, done := func(int, int) {}, func() {}
	opts.Progress = func(file string, n, total int64) {
		if file != cur {
			done()
			cur = file
			update, done = progress.NewBytes("downloading "+file, quiet)
		}
		update(int(n), int(total))
	}
	return opts, func() { done() }
}

// modelDir resolves --model: a model directory, or a hub model id read
// from the hub cache and pulled into it first when missing.
func modelDir(c *cli.Context) (string, error) {
	m := c.String("model")
	if m == "" {
		return "", errNoModel
	}
	if _, err := os.Stat(m); err != nil && !hub.LooksLikeRef(m) {
		return "", fmt.Errorf("model directory: %w", err)
	}
	opts, finish := hubOptions(c)
	defer finish()
	return wrx.ModelDir(c.Context, m, opts)
}
