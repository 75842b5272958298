package main

import (
	"context"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/model/synth"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

func TestSynthCommand(t *testing.T) {
	ctx := context.Background()
	uri := "mem:cli-synth-small"
	stdout, _, err := run(t, "", "synth", "--like", "wrx-sst2-small", "--out", uri, "--fidelities", "4,32", "--labels", "3", "--seed", "5", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"RANDOM WEIGHTS", "accuracy mean nothing", "only latency and memory", "6 layers × 12 heads"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	man := s.Manifest()
	if !man.Synthetic || len(man.Config.Labels) != 3 || man.Config.Hidden != 384 {
		t.Errorf("manifest: synthetic %v, %d labels, hidden %d; want true, 3, 384", man.Synthetic, len(man.Config.Labels), man.Config.Hidden)
	}
	p, err := profile.LoadImportance(ctx, uri, s)
	if err != nil {
		t.Fatal(err)
	}
	if p.Metric != profile.WeightErrorMetric || len(p.Bits) != 2 || p.Bits[0] != quant.Bits4 {
		t.Fatalf("importance profile: metric %q, bits %v", p.Metric, p.Bits)
	}
	for l := range p.Shards {
		for h, sh := range p.Shards[l] {
			// 4-bit dictionary codes of Gaussian weights lose about 1% of the
			// weights' energy (Lloyd–Max: 0.0095); fp32 loses nothing.
			if sh.Dropped != 1 || sh.Loss[1] != 0 || sh.Loss[0] < 0.004 || sh.Loss[0] > 0.011 {
				t.Fatalf("layer %d head %d: loss %v, dropped %v", l, h, sh.Loss, sh.Dropped)
			}
		}
	}

	// The warning the classify and eval paths print for such a store.
	var errOut strings.Builder
	app := &cli.App{ErrWriter: &errOut}
	c := cli.NewContext(app, nil, nil)
	c.Context = ctx
	openAndWarn := func(uri string) {
		t.Helper()
		cl, err := wrx.OpenStore(ctx, uri, wrx.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		warnIfSynthetic(c, uri, cl)
	}
	openAndWarn(uri)
	if !strings.Contains(errOut.String(), "RANDOM WEIGHTS") {
		t.Errorf("warning = %q", errOut.String())
	}

	// A store of a real model gets no warning.
	cfg := &bert.Config{
		ModelType: bert.TypeBERT, VocabSize: 50, Hidden: 16, Layers: 1, Heads: 2, Intermediate: 32,
		MaxPosition: 16, TypeVocab: 2, LayerNormEps: 1e-12, Activation: "gelu", Labels: []string{"a", "b"},
	}
	m, err := synth.Model(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	vocab, _ := synth.Vocab(cfg.VocabSize)
	tok, err := bert.NewTokenizer(vocab, bert.TokenizerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plain := "mem:cli-synth-not-marked"
	if err := shardstore.Convert(ctx, plain, m, tok, shardstore.ConvertOptions{Fidelities: []quant.Fidelity{32}}); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	openAndWarn(plain)
	if errOut.Len() != 0 {
		t.Errorf("store not marked synthetic: warning %q", errOut.String())
	}
}

func TestSynthCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--like", "gpt-7", "--out", "mem:cli-synth-bad"}, `"gpt-7"`},
		{[]string{"--like", "bert-base", "--out", "mem:cli-synth-bad", "--fidelities", "7"}, "--fidelities"},
		{[]string{"--like", "bert-base", "--out", "mem:cli-synth-bad", "--labels", "0"}, "--labels"},
		{[]string{"--like", "bert-base", "--out", "mem:cli-synth-bad", "--vocab", "/nonexistent/vocab.txt"}, "--vocab"},
	} {
		_, _, err := run(t, "", append([]string{"synth"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want one mentioning %s", tc.args, err, tc.want)
		}
	}
}
