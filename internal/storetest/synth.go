package storetest

import (
	"context"
	"testing"

	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/model/synth"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// SynthConfig is the architecture of the synthetic test model: the shape
// of the shared tiny-bert fixture (3 layers, 4 heads, hidden 64, 3
// labels) with a vocabulary of SynthVocabSize tokens and 128 positions.
func SynthConfig() *bert.Config {
	return &bert.Config{
		ModelType: bert.TypeBERT, VocabSize: SynthVocabSize, Hidden: 64, Layers: 3, Heads: 4, Intermediate: 256,
		MaxPosition: 128, TypeVocab: 2, LayerNormEps: 1e-12, Activation: "gelu",
		Labels: []string{"contradiction", "entailment", "neutral"},
	}
}

// SynthVocabSize is the vocabulary size of SynthConfig: over 1000, the
// token ids the elastic runner calibrates with.
const SynthVocabSize = 1200

// SynthTokenizer is an uncased WordPiece tokenizer over a vocabulary of
// SynthVocabSize tokens: the special tokens, the ASCII letters, digits
// and punctuation as words and as "##" continuations, and fillers. Every
// ASCII text tokenizes, one token per character, so different texts get
// different ids.
func SynthTokenizer(tb testing.TB) *bert.Tokenizer {
	tb.Helper()
	return synthTokenizer(tb, SynthVocabSize)
}

func synthTokenizer(tb testing.TB, size int) *bert.Tokenizer {
	tb.Helper()
	vocab := []string{bert.TokenPAD, bert.TokenUNK, bert.TokenCLS, bert.TokenSEP, "[MASK]"}
	var chars []string
	for c := 'a'; c <= 'z'; c++ {
		chars = append(chars, string(c))
	}
	for c := '0'; c <= '9'; c++ {
		chars = append(chars, string(c))
	}
	for _, c := range "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~" {
		chars = append(chars, string(c))
	}
	vocab = append(vocab, chars...)
	for _, c := range chars {
		vocab = append(vocab, "##"+c)
	}
	fill, err := synth.Vocab(size - len(vocab) + 5)
	if err != nil {
		tb.Fatal(err)
	}
	vocab = append(vocab, fill[5:]...)
	tok, err := bert.NewTokenizer(vocab, bert.TokenizerOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// SynthModel draws the model of SynthConfig with seed 1: random weights
// shaped like trained ones (model/synth). It needs nothing from ../shared.
func SynthModel(tb testing.TB) *bert.Model {
	tb.Helper()
	m, err := synth.Model(SynthConfig(), 1)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// Synth converts SynthModel with SynthTokenizer at fids (nil: every
// fidelity) into a new store at uri (a mem: store is deleted with the
// test) and returns the model. For tests that need a model but not
// trained weights: it runs everywhere, ../shared or not.
func Synth(tb testing.TB, uri string, fids ...quant.Fidelity) *bert.Model {
	tb.Helper()
	m := SynthModel(tb)
	CleanupMem(tb, uri)
	if err := shardstore.Convert(context.Background(), uri, m, SynthTokenizer(tb), shardstore.ConvertOptions{Fidelities: fids, Source: "storetest.Synth", Synthetic: true}); err != nil {
		tb.Fatal(err)
	}
	return m
}

// SynthFixture is Fixture for tests that need a model of a fixture's
// shape but not its trained weights: it converts a model of random
// weights (model/synth, seed 1) with the architecture of the shared
// fixture rel ("fixtures/tiny-bert": BERT, 3 labels; or
// "fixtures/tiny-distilbert": DistilBERT, 2 labels; both 3 layers of 4
// heads, hidden 64, a vocabulary of 30522 tokens and 512 positions) at
// fids (nil: every fidelity) into a fresh mem: store named after the
// test, and opens it. It needs nothing from ../shared.
func SynthFixture(t testing.TB, rel string, fids ...quant.Fidelity) (*bert.Model, *shardstore.Store, string) {
	t.Helper()
	cfg := &bert.Config{
		ModelType: bert.TypeBERT, VocabSize: 30522, Hidden: 64, Layers: 3, Heads: 4, Intermediate: 256,
		MaxPosition: 512, TypeVocab: 2, LayerNormEps: 1e-12, Activation: "gelu",
		Labels: []string{"contradiction", "entailment", "neutral"},
	}
	switch rel {
	case "fixtures/tiny-bert":
	case "fixtures/tiny-distilbert":
		cfg.ModelType, cfg.TypeVocab, cfg.Labels = bert.TypeDistilBERT, 0, []string{"NEGATIVE", "POSITIVE"}
	default:
		t.Fatalf("storetest: no synthetic stand-in for %s", rel)
	}
	m, err := synth.Model(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	uri := "mem:" + t.Name()
	CleanupMem(t, uri)
	ctx := context.Background()
	if err := shardstore.Convert(ctx, uri, m, synthTokenizer(t, cfg.VocabSize), shardstore.ConvertOptions{Fidelities: fids, Source: "storetest.SynthFixture " + rel, Synthetic: true}); err != nil {
		t.Fatal(err)
	}
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s, uri
}
