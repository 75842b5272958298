// Command wrx converts, profiles and runs BERT-family text classifiers.
//
//	wrx classify --model DIR "some text"
//	wrx eval --model DIR --task sst2 --data dev.tsv
//	wrx tokenize --model DIR "some text"
//
// Run "wrx help COMMAND" for the flags of each command.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	_ "github.com/wrxlabs/wrx/backend/gorgonia"
	_ "github.com/wrxlabs/wrx/backend/native"
	_ "github.com/wrxlabs/wrx/storage/badger"
	_ "github.com/wrxlabs/wrx/storage/flatfile"
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
	return &cli.App{
		Name:  "wrx",
		Usage: "run BERT-family text classifiers under a latency target and a memory budget",
		Description: "A model is a Hugging Face BERT or DistilBERT sequence-classification directory\n" +
			"(config.json, model.safetensors, vocab.txt, optional tokenizer_config.json).",
		Commands: []*cli.Command{
			classifyCommand(),
			evalCommand(),
			tokenizeCommand(),
			convertCommand(),
			profileCommand(),
			planCommand(),
			benchCommand(),
			synthCommand(),
		},
		HideHelpCommand: false,
	}
}
