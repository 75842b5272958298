package plan_test

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/quant"
)

// exampleProfiles describes a 2-layer model of 4 heads stored at 4 and 8
// bits, on a store that reads 10 MB/s with 0.2 ms per read. In practice the
// profiles come from the store (plan.LoadProfiles).
func exampleProfiles() *plan.Profiles {
	bits := []quant.Fidelity{4, 8}
	geo := plan.UniformGeometry(2, 4, bits, 1024, func(b quant.Fidelity) plan.BlobSizes {
		return plan.BlobSizes{Attn: 2000 * int64(b), FFN: 4000 * int64(b)}
	})
	im := &plan.ImportanceProfile{Layers: 2, Heads: 4, Bits: bits}
	for l := 0; l < 2; l++ {
		var layer []plan.ShardImportance
		for h := 0; h < 4; h++ {
			d := 0.1 / float64(1+h+2*l) // earlier layers and heads matter more
			layer = append(layer, plan.ShardImportance{Dropped: d, Loss: []float64{d / 4, d / 50}})
		}
		im.Shards = append(im.Shards, layer)
	}
	dev := &plan.DeviceProfile{
		ReadBandwidth: 10e6,
		ReadLatency:   200 * time.Microsecond,
		Compute: plan.ComputeTable{
			SeqLens:     []int{16, 64},
			ShardCounts: []int{0, 4},
			Layer:       [][]time.Duration{{200 * time.Microsecond, time.Millisecond}, {500 * time.Microsecond, 3 * time.Millisecond}},
			Embed:       []time.Duration{50 * time.Microsecond, 150 * time.Microsecond},
			Head:        []time.Duration{30 * time.Microsecond, 40 * time.Microsecond},
		},
	}
	return &plan.Profiles{Geometry: geo, Importance: im, Device: dev}
}

func ExampleNew() {
	pl, err := plan.New(exampleProfiles(), plan.Options{RowReads: plan.RowReadsBatched})
	if err != nil {
		panic(err)
	}
	// Choose the resident set once for (T, B); it stays loaded.
	target, budget := 25*time.Millisecond, int64(64<<10)
	pre, err := pl.Preload(target, budget)
	if err != nil {
		panic(err)
	}
	fmt.Printf("preload: %d shards, %d bytes\n", len(pre.Shards), pre.Bytes)

	// Plan each request around it.
	p, err := pl.Plan(plan.Request{Target: target, Budget: budget, SeqLen: 20, Preload: pre})
	if err != nil {
		panic(err)
	}
	for _, l := range p.Layers {
		fmt.Printf("layer %d:", l.Layer)
		for _, s := range l.Shards {
			fmt.Printf(" h%d@%d", s.Head, s.Bits)
			if s.Preloaded {
				fmt.Print("(resident)")
			}
		}
		fmt.Println()
	}
	fmt.Printf("%d reads, predicted %v ≤ %v, loss %.4f\n", len(p.IO), p.PredictedLatency.Round(time.Microsecond), p.Target, p.PredictedLoss)

	// A target below what the fastest plan that runs a shard needs is an
	// error that says what would work.
	_, err = pl.Plan(plan.Request{Target: time.Millisecond, Budget: budget, SeqLen: 20, Preload: pre})
	var inf *plan.InfeasibleError
	if errors.As(err, &inf) {
		fmt.Println("1ms: smallest feasible target", inf.MinTarget.Round(time.Microsecond))
	}
	// Output:
	// preload: 1 shards, 48000 bytes
	// layer 0: h0@8(resident) h1@8 h2@4 h3@4
	// layer 1: h0@4 h1@4 h2@4 h3@4
	// 14 reads, predicted 24.509ms ≤ 25ms, loss 0.0413
	// 1ms: smallest feasible target 3.023ms
}

// Divide spends a total memory budget: the footprint every request needs
// first, then in-flight blob buffers and the preload buffer. Here each
// division is rated by the loss of a typical request planned under it,
// as elastic.DivideBudget does.
func ExampleDivide() {
	prof := exampleProfiles()
	foot := plan.Footprint{
		Resident: 100_000, Activations: 50_000, Scratch: 10_000,
		Bits: []quant.Fidelity{4, 8}, Blob: []int64{16_000, 32_000}, // the FFN blobs are the largest
	}
	const target = 20 * time.Millisecond
	score := func(d plan.Division) float64 {
		pl, err := plan.New(prof.UpTo(d.StreamBits), plan.Options{InFlight: d.InFlight})
		if err != nil {
			return math.Inf(1)
		}
		p, err := pl.Plan(plan.Request{Target: target, Budget: d.Preload, SeqLen: 16})
		if err != nil {
			return math.Inf(1)
		}
		return p.PredictedLoss
	}
	d, err := plan.Divide(400_000, foot, plan.DefaultInFlight, score)
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Fixed, d.InFlight, d.StreamBits, d.Fixed+d.InFlightBytes()+d.Preload == d.Total)

	_, err = plan.Divide(150_000, foot, plan.DefaultInFlight, score)
	fmt.Println(errors.Is(err, plan.ErrBudget))
	fmt.Println(err)
	// Output:
	// 160000 2 8 true
	// true
	// plan: a memory budget of 150.0KB (150000 bytes) is below the minimum of 176.0KB (176000 bytes): resident parts 100.0KB, activations 50.0KB, scratch 10.0KB and one in-flight blob of 16.0KB
}
