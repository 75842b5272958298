package pipeline_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/backend"
	_ "github.com/wrxlabs/wrx/backend/native"
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/leaktest"
	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/shardstore"
)

// TestExecutorConcurrent runs 100 goroutines × 4 requests of mixed
// plans (streamed, preloaded, partial, at 4 and 32 bits, load-then-exec
// and streaming executors) and lengths on one Executor while another
// two goroutines keep changing its preload buffer and its word rows (always
// keeping what the plans use). Every answer must equal the one the same
// plan and input get alone, bit for bit. Run it with -race.
func TestExecutorConcurrent(t *testing.T) {
	defer leaktest.Check(t)()
	const goroutines, perG = 100, 4
	ctx := context.Background()
	uri := "mem:" + t.Name()
	storetest.Synth(t, uri, 4, 32)
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g, err := profile.GeometryFromManifest(s.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	be, err := backend.Open("native", backend.Config{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	mustPlan := func(p *plan.Plan, err error) *plan.Plan {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Layer 0 head 1 at 32 bits is always preloaded; layer 2 head 0 at 4
	// bits comes and goes.
	always := []shardstore.Key{pipeline.Key(0, 1, plan.Attention, 32), pipeline.Key(0, 1, plan.FFN, 32)}
	sometimes := append(slices.Clone(always), pipeline.Key(2, 0, plan.Attention, 4), pipeline.Key(2, 0, plan.FFN, 4))
	plans := []*plan.Plan{
		mustPlan(plan.Full(g, 32)),
		mustPlan(plan.Full(g, 4)),
		mustPlan(plan.Fixed(g, [][]plan.ShardChoice{{{Head: 1, Bits: 32, Preloaded: true}, {Head: 3, Bits: 4}}, {{Head: 2, Bits: 32}}})),
		mustPlan(plan.Fixed(g, [][]plan.ShardChoice{{{Head: 0, Bits: 4}, {Head: 1, Bits: 32, Preloaded: true}, {Head: 2, Bits: 32}, {Head: 3, Bits: 4}}, {}, {{Head: 1, Bits: 32}}})),
	}
	for _, p := range plans[2:] { // preloaded shards are not read
		p.IO = slices.DeleteFunc(p.IO, func(r plan.BlobRead) bool { return r.Layer == 0 && r.Head == 1 })
	}
	r := rand.New(rand.NewPCG(5, 5))
	inputs := make([][]int, 12)
	for i := range inputs {
		ids := []int{2}
		for range 1 + r.IntN(60) {
			ids = append(ids, 5+r.IntN(storetest.SynthVocabSize-5))
		}
		inputs[i] = append(ids, 3)
	}
	for _, opts := range []pipeline.ExecOptions{{PreloadLimit: 1 << 30}, {InFlight: 1}, {LoadAll: true}} {
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) {
			e, err := pipeline.NewExecutor(ctx, s, be, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.SetPreload(ctx, always); err != nil {
				t.Fatal(err)
			}
			want := make([][][]float32, len(plans))
			for i, p := range plans {
				for _, ids := range inputs {
					l, _, err := e.Run(ctx, p, ids, nil)
					if err != nil {
						t.Fatalf("plan %d alone: %v", i, err)
					}
					want[i] = append(want[i], l)
				}
			}
			stop := make(chan struct{})
			var churn sync.WaitGroup
			churn.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
					keys := always
					if i%2 == 1 {
						keys = sometimes
					}
					if err := e.SetPreload(ctx, keys); err != nil {
						t.Errorf("SetPreload: %v", err)
						return
					}
					_ = e.PreloadBytes()
				}
			})
			churn.Go(func() {
				rows := [][]int{nil, inputs[0], inputs[3][:5]}
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
					if err := e.SetRows(ctx, rows[i%len(rows)]); err != nil {
						t.Errorf("SetRows: %v", err)
						return
					}
				}
			})
			var wg sync.WaitGroup
			for gi := range goroutines {
				wg.Go(func() {
					for i := range perG {
						pi, xi := (gi+i)%len(plans), (gi*perG+i)%len(inputs)
						got, st, err := e.Run(ctx, plans[pi], inputs[xi], nil)
						if err != nil {
							t.Errorf("goroutine %d: plan %d: %v", gi, pi, err)
							return
						}
						if !slices.Equal(got, want[pi][xi]) {
							t.Errorf("goroutine %d: plan %d input %d: logits %v, alone %v", gi, pi, xi, got, want[pi][xi])
						}
						if st.Reads != len(plans[pi].IO) {
							t.Errorf("goroutine %d: plan %d: %d reads, plan has %d", gi, pi, st.Reads, len(plans[pi].IO))
						}
					}
				})
			}
			wg.Wait()
			close(stop)
			churn.Wait()
		})
	}
}
