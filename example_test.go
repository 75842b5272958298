package wrx_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"

	"github.com/wrxlabs/wrx"
	_ "github.com/wrxlabs/wrx/backend/gorgonia" // registers the "gorgonia" backend
)

// These examples need the model files in ../shared, so they are compiled
// but not run (they have no Output comment); TestClassifyMatchesReference
// checks the same calls against the PyTorch reference.

func ExampleOpen() {
	ctx := context.Background()
	// Any Hugging Face BertForSequenceClassification or
	// DistilBertForSequenceClassification directory works.
	c, err := wrx.Open(ctx, "../shared/models/wrx-sst2-small", wrx.Options{
		Backend: "gorgonia", // "" means wrx.DefaultBackend
		MaxLen:  64,         // 0 means wrx.DefaultMaxLen
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Labels()) // [negative positive]
}

func ExampleClassifier_Classify() {
	ctx := context.Background()
	c, err := wrx.Open(ctx, "../shared/models/wrx-sst2-small", wrx.Options{})
	if err != nil {
		log.Fatal(err)
	}
	p, err := c.Classify(ctx, "a gorgeous , witty , seductive movie .")
	if wrx.IsEmptyText(err) {
		log.Fatal("nothing to classify")
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %.2f\n", p.Label, p.Score) // positive 0.99
	for label, score := range p.Scores {
		fmt.Printf("  %s: %.3f\n", label, score)
	}
}

func ExampleClassifier_ClassifyPair() {
	ctx := context.Background()
	// A model fine-tuned on an entailment task (RTE, MNLI, ...) takes the
	// premise first and the hypothesis second.
	c, err := wrx.Open(ctx, "path/to/bert-rte", wrx.Options{})
	if err != nil {
		log.Fatal(err)
	}
	p, err := c.ClassifyPair(ctx,
		"Steve Jobs co-founded Apple with Steve Wozniak.",
		"Steve Jobs worked for Apple.")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Label, p.Score)
}

// A Classifier serves many goroutines at once. Close cancels the requests
// in flight, waits for them and releases the store; later requests fail
// with ErrClosed.
func ExampleClassifier_Close() {
	ctx := context.Background()
	c, err := wrx.Open(ctx, "../shared/models/wrx-sst2-small", wrx.Options{})
	if err != nil {
		log.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, text := range []string{"a gorgeous , witty , seductive movie .", "the movie is bad ."} {
		wg.Go(func() {
			if p, err := c.Classify(ctx, text); err == nil {
				fmt.Println(p.Label)
			}
		})
	}
	wg.Wait()
	c.Close()
	_, err = c.Classify(ctx, "too late")
	fmt.Println(errors.Is(err, wrx.ErrClosed)) // true
}
