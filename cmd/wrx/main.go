// Command wrx converts, profiles and runs BERT-family text classifiers.
//
//	wrx pull ORG/NAME
//	wrx classify --model ORG/NAME "some text"
//	wrx classify --model DIR "some text"
//	wrx eval --model DIR --task sst2 --data dev.tsv
//	wrx tokenize --model DIR "some text"
//	wrx serve --model DIR --addr 127.0.0.1:8080
//
// Run "wrx help COMMAND" for the flags of each command.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx"
	_ "github.com/wrxlabs/wrx/backend/gorgonia"
	_ "github.com/wrxlabs/wrx/backend/native"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/hub"
	_ "github.com/wrxlabs/wrx/storage/badger"
	_ "github.com/wrxlabs/wrx/storage/flatfile"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newApp().RunContext(ctx, os.Args)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		if h := hint(err); h != "" {
			fmt.Fprintln(os.Stderr, "hint:", h)
		}
		os.Exit(1)
	}
}

// hint says which command cures err, for errors the library reports
// without naming CLI commands.
func hint(err error) string {
	var se *wrx.StoreError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("check it with: wrx verify --store %s; delete %s to convert the model again", se.URI, strings.TrimPrefix(se.URI, "file:"))
	case errors.Is(err, profile.ErrOtherHost):
		return "measure this device with: wrx profile device --store URI"
	case errors.Is(err, profile.ErrNoProfile):
		return "profile the store first: wrx profile importance|device|words --store URI (see wrx help profile)"
	case errors.Is(err, hub.ErrUnauthorized):
		return "set HF_TOKEN (or run huggingface-cli login) with a token that can read the model; for a gated model, accept its conditions on its hub page first"
	case errors.Is(err, hub.ErrNotCached):
		return "pull the model while online: wrx pull ORG/NAME[@REVISION] (with HF_HUB_OFFLINE unset)"
	case errors.Is(err, hub.ErrNetwork):
		return "check the network and HF_ENDPOINT; wrx pull again resumes a download; with the model cached, HF_HUB_OFFLINE=1 reads the cache only"
	case errors.Is(err, hub.ErrChecksum):
		return "the damaged file was removed; wrx pull again downloads it anew"
	}
	return ""
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "wrx",
		Usage: "run BERT-family text classifiers under a latency target and a memory budget",
		Description: "A model is a Hugging Face BERT or DistilBERT sequence-classification directory\n" +
			"(config.json, model.safetensors or pytorch_model.bin, vocab.txt or tokenizer.json, optional\n" +
			"tokenizer_config.json), or a hub model id ORG/NAME[@REVISION] (see wrx help pull).",
		Commands: []*cli.Command{
			classifyCommand(),
			evalCommand(),
			tokenizeCommand(),
			convertCommand(),
			pullCommand(),
			profileCommand(),
			planCommand(),
			synthCommand(),
			serveCommand(),
			verifyCommand(),
		},
		HideHelpCommand: false,
	}
}
