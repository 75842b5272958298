// Package plantest builds planner inputs by hand for the tests of the
// elastic packages, so that planner tests need no store and the tests that
// do use a store agree on one synthetic device.
package plantest

import (
	"time"

	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/quant"
)

// Geometry is the shape of a small model (3 layers of 4 heads, like the
// shared tiny-bert fixture) stored at bits, with blobs of a few sectors.
func Geometry(bits ...quant.Fidelity) *plan.Geometry {
	g := plan.UniformGeometry(3, 4, bits, 8192, func(b quant.Fidelity) plan.BlobSizes {
		return plan.BlobSizes{Attn: 4096 * int64(1+b/8), FFN: 4096 * int64(1+b/4)}
	})
	g.RowMemBytes = 256
	return g
}

// Profiles completes g with losses that fall with fidelity (head h of any
// layer loses (1+h)/bits², or 1+h when dropped) and a device where a layer
// costs 1 ms plus 0.5 ms a shard at 8 tokens, and reads run at 100 MB/s
// with 0.2 ms latency.
func Profiles(g *plan.Geometry) (*plan.Profiles, error) {
	imp := &plan.ImportanceProfile{Layers: g.Layers, Heads: g.Heads, Bits: g.Bits}
	for range g.Layers {
		var row []plan.ShardImportance
		for h := range g.Heads {
			si := plan.ShardImportance{Dropped: 1 + float64(h)}
			for _, b := range g.Bits {
				si.Loss = append(si.Loss, (1+float64(h))/float64(b*b))
			}
			row = append(row, si)
		}
		imp.Shards = append(imp.Shards, row)
	}
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	heads := float64(g.Heads)
	dev := &plan.DeviceProfile{
		ReadBandwidth: 100e6, ReadLatency: ms(0.2),
		Compute: plan.ComputeTable{
			SeqLens: []int{8, 128}, ShardCounts: []int{0, g.Heads},
			Layer: [][]time.Duration{{ms(1), ms(1 + 0.5*heads)}, {ms(2), ms(2 + heads)}},
			Embed: []time.Duration{ms(0.1), ms(0.2)}, Head: []time.Duration{ms(0.1), ms(0.1)},
		},
	}
	p := &plan.Profiles{Geometry: g, Importance: imp, Device: dev}
	return p, p.Validate()
}
