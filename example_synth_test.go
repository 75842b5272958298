package wrx_test

import (
	"context"
	"fmt"
	"log"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/model/synth"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// These examples run on models of random weights (model/synth) in mem:
// stores, so they need no files; their labels and scores mean nothing, but
// every call is the one a real model takes.

// Open a store and classify. A store made by "wrx convert" opens the same
// way, by its URI (file:/path/to/store); here a tiny synthetic one is made
// in memory first.
func Example() {
	ctx := context.Background()
	const uri = "mem:example-open"
	defer storage.DeleteMem("example-open")
	if _, err := wrx.Synthesize(ctx, uri, wrx.SynthOptions{Like: synth.Tiny, Seed: 1}); err != nil {
		log.Fatal(err)
	}

	c, err := wrx.Open(ctx, uri, wrx.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	p, err := c.Classify(ctx, "a charming and often affecting journey")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Labels(), c.Synthetic())
	fmt.Printf("%s %.2f %d tokens\n", p.Label, p.Score, p.Tokens)

	_, err = c.Classify(ctx, "   ")
	fmt.Println(wrx.IsEmptyText(err))
	// Output:
	// [LABEL_0 LABEL_1] true
	// LABEL_0 0.52 8 tokens
	// true
}

// Sentence pairs, for entailment or paraphrase models: the premise first,
// the hypothesis second, as Hugging Face's pipelines take them.
func ExampleClassifier_ClassifyPair_synthetic() {
	ctx := context.Background()
	const uri = "mem:example-pair"
	defer storage.DeleteMem("example-pair")
	if _, err := wrx.Synthesize(ctx, uri, wrx.SynthOptions{Like: synth.Tiny, Seed: 2, Labels: 3}); err != nil {
		log.Fatal(err)
	}
	c, err := wrx.Open(ctx, uri, wrx.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	p, err := c.ClassifyPair(ctx, "A man is sleeping.", "A person rests.")
	if err != nil {
		log.Fatal(err)
	}
	// [CLS] a man is sleeping . [SEP] a person rests . [SEP]
	fmt.Println(len(p.Scores), p.Tokens)
	// Output: 3 12
}

// How to test code that embeds WRX: convert a tiny model of random weights,
// with a vocabulary of your own, into a mem: store inside the test. No file
// is read or written, and the store is gone when the test deletes it.
func Example_unitTest() {
	ctx := context.Background()

	// In a test: name the store after t.Name() and call
	// t.Cleanup(func() { storage.DeleteMem(name) }).
	const name = "example-unit-test"
	defer storage.DeleteMem(name)

	vocab := []string{bert.TokenPAD, bert.TokenUNK, bert.TokenCLS, bert.TokenSEP,
		"the", "movie", "is", "good", "bad", "not", "."}
	cfg, err := synth.Config(synth.Tiny)
	if err != nil {
		log.Fatal(err)
	}
	cfg.VocabSize, cfg.MaxPosition = len(vocab), 32
	cfg.Labels = []string{"negative", "positive"}
	m, err := synth.Model(cfg, 7)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := bert.NewTokenizer(vocab, bert.TokenizerOptions{})
	if err != nil {
		log.Fatal(err)
	}
	err = shardstore.Convert(ctx, "mem:"+name, m, tok, shardstore.ConvertOptions{
		Fidelities: []quant.Fidelity{32}, // one fidelity: quick to convert
	})
	if err != nil {
		log.Fatal(err)
	}

	c, err := wrx.Open(ctx, "mem:"+name, wrx.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, text := range []string{"The movie is good.", "the movie is not good ."} {
		p, err := c.Classify(ctx, text)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %.2f %d tokens\n", p.Label, p.Score, p.Tokens)
	}
	// Random weights give nearly the same scores to every text; a test
	// checks what the code around the classifier does with them.
	// Output:
	// negative 0.51 7 tokens
	// negative 0.51 8 tokens
}

// The elastic pipeline: with a target, every request is planned to answer
// within it, streaming shard versions from the store, and the model takes
// at most Budget bytes: resident parts, activations, in-flight and preload
// buffers (Classifier.Memory says how it was divided). It needs the store's importance
// profile (Synthesize writes one; for a trained model "wrx profile
// importance") and this device's profile ("wrx profile device", or
// profile.ProfileDevice as here).
func ExampleOptions_target() {
	ctx := context.Background()
	const uri = "mem:example-target"
	defer storage.DeleteMem("example-target")
	if _, err := wrx.Synthesize(ctx, uri, wrx.SynthOptions{Like: synth.Tiny, Seed: 3}); err != nil {
		log.Fatal(err)
	}
	if err := profileDevice(ctx, uri); err != nil {
		log.Fatal(err)
	}

	const budget = 1_000_000 // bytes
	c, err := wrx.Open(ctx, uri, wrx.Options{Target: 50 * time.Millisecond, Budget: budget})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	p, err := c.Classify(ctx, "a charming and often affecting journey")
	if err != nil {
		log.Fatal(err)
	}
	r := p.Run
	m := c.Memory()
	fmt.Println(c.Target(), r.Plan.Target <= c.Target(), m.Total == budget, r.PreloadBytes <= m.Preload)

	// One request may ask for a tighter target than the classifier's.
	p, err = c.ClassifyPairWith(ctx, "a charming journey", "", wrx.RequestOptions{Target: 5 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Run.Plan.Target <= 5*time.Millisecond)
	// Output:
	// 50ms true true true
	// true
}

// profileDevice measures this device against the store at uri and saves the
// profile beside it, as "wrx profile device --store URI" does.
func profileDevice(ctx context.Context, uri string) error {
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		return err
	}
	defer s.Close()
	// The streaming pipeline computes on ComputeThreads threads, so the
	// device is measured with as many.
	be, err := backend.Open(wrx.DefaultBackend, backend.Config{Threads: pipeline.ComputeThreads()})
	if err != nil {
		return err
	}
	p, err := profile.ProfileDevice(ctx, s, s.Storage(), be, profile.DeviceOptions{Repeats: 3})
	if err != nil {
		return err
	}
	return profile.SaveDevice(ctx, uri, s, p)
}

// Swapping the backend: the same store on the pure-Go gorgonia backend
// (imported for its side effect in example_test.go) instead of native.
func ExampleOptions_backend() {
	ctx := context.Background()
	const uri = "mem:example-backend"
	defer storage.DeleteMem("example-backend")
	if _, err := wrx.Synthesize(ctx, uri, wrx.SynthOptions{Like: synth.Tiny, Seed: 4}); err != nil {
		log.Fatal(err)
	}
	var preds []wrx.Prediction
	for _, name := range []string{"native", "gorgonia"} {
		c, err := wrx.Open(ctx, uri, wrx.Options{Backend: name})
		if err != nil {
			log.Fatal(err)
		}
		p, err := c.Classify(ctx, "a charming and often affecting journey")
		c.Close()
		if err != nil {
			log.Fatal(err)
		}
		preds = append(preds, p)
	}
	diff := math.Abs(float64(preds[0].Logits[0] - preds[1].Logits[0]))
	fmt.Println(preds[0].Label == preds[1].Label, diff < 1e-4)
	// Output: true true
}

// countingDriver is a storage driver for the scheme "counting": it keeps
// stores in memory, as mem: does, and counts the bytes read from them in
// countingRead.
type countingDriver struct{}

var countingRead atomic.Int64

func (d countingDriver) Open(ctx context.Context, location string, opts storage.OpenOptions) (storage.Store, error) {
	s, err := storage.OpenWith(ctx, "mem:counting-"+location, opts)
	if err != nil {
		return nil, err
	}
	return countingStore{s}, nil
}

func (d countingDriver) Create(ctx context.Context, location string, opts storage.CreateOptions) (storage.Writer, error) {
	return storage.Create(ctx, "mem:counting-"+location, opts)
}

type countingStore struct{ storage.Store }

func (s countingStore) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	n, err := s.Store.ReadAt(ctx, key, dst, off)
	countingRead.Add(int64(n))
	return n, err
}

// Registering a storage driver: any scheme registered with storage.Register
// works wherever WRX takes a store URI, as database/sql drivers do.
func Example_storageDriver() {
	// A program registers its drivers once, in an init function.
	if !slices.Contains(storage.Schemes(), "counting") {
		storage.Register("counting", countingDriver{})
	}
	defer storage.DeleteMem("counting-example")

	ctx := context.Background()
	const uri = "counting:example"
	_, err := wrx.Synthesize(ctx, uri, wrx.SynthOptions{Like: synth.Tiny, Fidelities: []quant.Fidelity{8}, NoImportance: true})
	if err != nil {
		log.Fatal(err)
	}
	before := countingRead.Load()
	c, err := wrx.Open(ctx, uri, wrx.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Classify(ctx, "read through the driver"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(countingRead.Load() > before)
	// Output: true
}
