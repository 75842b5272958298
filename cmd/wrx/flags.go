package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/backend"
)

var (
	modelFlag = &cli.StringFlag{
		Name:  "model",
		Usage: "Hugging Face model `DIR` (config.json, model.safetensors, vocab.txt)",
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
	jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON"}
)

var errNoModel = errors.New("--model is required: a Hugging Face model directory")

// openClassifier opens the model the command's flags name.
func openClassifier(c *cli.Context) (*wrx.Classifier, error) {
	dir := c.String("model")
	if dir == "" {
		return nil, errNoModel
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("model directory: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("model %s is not a directory", dir)
	}
	name := c.String("backend")
	if _, err := backend.Get(name); err != nil {
		return nil, err
	}
	return wrx.Open(c.Context, dir, wrx.Options{Backend: name, MaxLen: c.Int("max-len")})
}
