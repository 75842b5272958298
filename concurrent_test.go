package wrx_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/internal/leaktest"
	"github.com/wrxlabs/wrx/internal/profiletest"
	"github.com/wrxlabs/wrx/internal/storetest"
)

// mixedTexts returns n texts from 1 to about 200 characters: with the
// synthetic tokenizer (one token per character) from 3 tokens to past
// DefaultMaxLen, where they are truncated.
func mixedTexts(n int) []string {
	r := rand.New(rand.NewPCG(12, 12))
	words := []string{"a", "film", "of", "quiet", "charm", "and", "sudden", "grief", "!", "42", "bleak", "witty", "?"}
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for b.Len() < 1+r.IntN(200) {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		out[i] = b.String()
	}
	return out
}

// concurrentClassifiers opens the two kinds of classifier on the synthetic
// model: dense (every shard in memory at 32 bits) and elastic (a target
// the plan meets at full fidelity, a budget that preloads about half the
// shards, so requests both read the shared preload buffer and stream).
func concurrentClassifiers(t *testing.T) map[string]func(t *testing.T) *wrx.Classifier {
	return map[string]func(t *testing.T) *wrx.Classifier{
		"dense": func(t *testing.T) *wrx.Classifier {
			uri := "mem:" + t.Name()
			storetest.Synth(t, uri, 32)
			c, err := wrx.Open(context.Background(), uri, wrx.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
		"elastic": func(t *testing.T) *wrx.Classifier {
			uri := "mem:" + t.Name()
			profiletest.Synth(t, uri)
			c, err := wrx.Open(context.Background(), uri, wrx.Options{Target: 5 * time.Second, Budget: 1_000_000})
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
	}
}

// TestConcurrentClassify sends 100 goroutines × 10 requests of mixed
// lengths at one classifier, dense and elastic, and checks that every
// answer equals the one the same text gets alone (bit for bit: the
// native backend is deterministic), that nothing fails, and that no
// goroutine outlives Close. Run it with -race.
func TestConcurrentClassify(t *testing.T) {
	const goroutines, perG = 100, 10
	for name, open := range concurrentClassifiers(t) {
		t.Run(name, func(t *testing.T) {
			defer leaktest.Check(t)()
			c := open(t)
			ctx := context.Background()
			texts := mixedTexts(25)
			want := make([][]float32, len(texts))
			for i, s := range texts {
				p, err := c.Classify(ctx, s)
				if err != nil {
					t.Fatal(err)
				}
				if name == "elastic" && p.Run.Plan.PredictedLatency <= 0 {
					t.Fatalf("elastic request ran no plan: %+v", p.Run)
				}
				want[i] = p.Logits
			}
			var wg sync.WaitGroup
			var failed atomic.Int64
			for g := range goroutines {
				wg.Go(func() {
					for i := range perG {
						k := (g*perG + i) % len(texts)
						p, err := c.Classify(ctx, texts[k])
						if err != nil {
							failed.Add(1)
							t.Errorf("goroutine %d request %d: %v", g, i, err)
							return
						}
						if !slices.Equal(p.Logits, want[k]) {
							failed.Add(1)
							t.Errorf("goroutine %d: text %d (%d tokens): logits %v, alone %v", g, k, p.Tokens, p.Logits, want[k])
						}
					}
				})
			}
			wg.Wait()
			t.Logf("%s: %d goroutines × %d requests, %d wrong or failed", name, goroutines, perG, failed.Load())
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCloseDuringRequests closes a classifier, dense and elastic, while
// 100 goroutines send requests, and calls Close from several goroutines
// at once. Every request must return its right answer or an error
// wrapping ErrClosed (none other, no panic), every Close the same
// result, requests after Close ErrClosed, and no goroutine may outlive
// Close.
func TestCloseDuringRequests(t *testing.T) {
	const goroutines = 100
	for name, open := range concurrentClassifiers(t) {
		t.Run(name, func(t *testing.T) {
			defer leaktest.Check(t)()
			c := open(t)
			ctx := context.Background()
			texts := mixedTexts(10)
			want := make([][]float32, len(texts))
			for i, s := range texts {
				p, err := c.Classify(ctx, s)
				if err != nil {
					t.Fatal(err)
				}
				want[i] = p.Logits
			}
			var answered, closedErrs, cancelled atomic.Int64
			started := make(chan struct{}, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					started <- struct{}{}
					for i := 0; ; i++ {
						k := (g + i) % len(texts)
						p, err := c.Classify(ctx, texts[k])
						switch {
						case errors.Is(err, wrx.ErrClosed):
							closedErrs.Add(1)
							if strings.Contains(err.Error(), "during the request") {
								cancelled.Add(1) // in flight when Close came
							}
							return
						case err != nil:
							t.Errorf("goroutine %d: %v, want nil or ErrClosed", g, err)
							return
						case !slices.Equal(p.Logits, want[k]):
							t.Errorf("goroutine %d: text %d: logits %v, alone %v", g, k, p.Logits, want[k])
							return
						}
						answered.Add(1)
					}
				})
			}
			for range goroutines {
				<-started
			}
			for answered.Load() < 50 {
				time.Sleep(time.Millisecond)
			}
			errs := make([]error, 4)
			var closers sync.WaitGroup
			for i := range errs {
				closers.Go(func() { errs[i] = c.Close() })
			}
			closers.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("Close %d: %v", i, err)
				}
			}
			if _, err := c.Classify(ctx, texts[0]); !errors.Is(err, wrx.ErrClosed) || !strings.Contains(err.Error(), "closed") {
				t.Errorf("Classify after Close: %v, want ErrClosed", err)
			}
			wg.Wait()
			if closedErrs.Load() != goroutines {
				t.Errorf("%d of %d goroutines saw ErrClosed", closedErrs.Load(), goroutines)
			}
			t.Logf("%s: %d answers before Close, %d requests returned ErrClosed, %d of them cancelled in flight", name, answered.Load(), closedErrs.Load(), cancelled.Load())
		})
	}
}
