package elastic_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/elastic"
	"github.com/wrxlabs/wrx/internal/leaktest"
	"github.com/wrxlabs/wrx/internal/storetest"
)

// TestRunnerConcurrent sends 100 goroutines × 5 requests of mixed lengths
// to one Runner over the synthetic model with hand-made profiles, with a
// budget that preloads part of it. Plans differ between requests (the
// slack adapts to measured latency), so each answer is checked against
// its own plan run alone afterwards: bit for bit equal. No request may
// fail, the preload buffer must stay within the budget, and no goroutine
// may be left running. Run it with -race.
func TestRunnerConcurrent(t *testing.T) {
	defer leaktest.Check(t)()
	const goroutines, perG = 100, 5
	const extra = 300_000 // beyond the minimum, for the preload buffer
	ctx := context.Background()
	s, be, prof := profiledSynth(t, nil)
	// BestEffort: this test is about what the requests compute, not about
	// deadlines, which the queue of a loaded machine would make them miss.
	const maxLen = 128 // the inputs are up to 80 tokens
	budget := elastic.Footprint(s, be, prof.Geometry.Bits, maxLen, 0).Min() + extra
	r, err := elastic.NewRunner(ctx, s, be, elastic.RunnerOptions{Target: 20 * time.Millisecond, Budget: budget, MaxSeqLen: maxLen, Profiles: prof, BestEffort: true})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	inputs := make([][]int, 16)
	for i := range inputs {
		ids := []int{2}
		for range 1 + rng.IntN(80) {
			ids = append(ids, 5+rng.IntN(storetest.SynthVocabSize-5))
		}
		inputs[i] = append(ids, 3)
	}
	type answer struct {
		input  int
		logits []float32
		info   elastic.RunInfo
	}
	answers := make([][]answer, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				k := (g*perG + i) % len(inputs)
				l, info, err := r.Run(ctx, time.Time{}, inputs[k], nil)
				if err != nil {
					t.Errorf("goroutine %d request %d: %v", g, i, err)
					return
				}
				answers[g] = append(answers[g], answer{k, l, info})
				_ = r.Slack()
			}
		})
	}
	wg.Wait()
	plans := map[string]bool{}
	for g, as := range answers {
		for _, a := range as {
			plans[fmt.Sprint(a.info.Plan.Layers)] = true
			if a.info.PreloadBytes > r.Division().Preload {
				t.Errorf("goroutine %d: preload buffer of %d bytes, budget %d", g, a.info.PreloadBytes, budget)
			}
			alone, _, err := r.Executor().Run(ctx, a.info.Plan, inputs[a.input], nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(alone, a.logits) {
				t.Errorf("goroutine %d: input %d: logits %v, its plan alone %v", g, a.input, a.logits, alone)
			}
		}
	}
	t.Logf("%d goroutines × %d requests, %d distinct plans, slack now %.2f (%+v)", goroutines, perG, len(plans), r.Slack(), r.Slacks())
}
