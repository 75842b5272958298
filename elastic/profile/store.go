package profile

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// GeometryFromManifest reads the shard sizes of a converted store from its
// manifest, rounded up to storage.Align as the executor reads and holds
// them; an embedding row counts as the sectors a read of it may cover.
func GeometryFromManifest(m *shardstore.Manifest) (*plan.Geometry, error) {
	g := &plan.Geometry{
		Layers: m.Config.Layers,
		Heads:  m.Config.Heads,
		Bits:   slices.Clone(m.Fidelities),
		// A row record sits at an arbitrary offset, so a direct-IO read of
		// it covers up to one sector more than its aligned size.
		EmbeddingRowBytes: storage.AlignUp(int64(m.WordRowBytes)) + storage.Align,
		RowMemBytes:       4 * int64(m.Config.Hidden),
	}
	slices.Sort(g.Bits)
	g.Sizes = make([][][]plan.BlobSizes, g.Layers)
	for l := range g.Sizes {
		g.Sizes[l] = make([][]plan.BlobSizes, g.Heads)
		for h := range g.Sizes[l] {
			g.Sizes[l][h] = make([]plan.BlobSizes, len(g.Bits))
			for i, b := range g.Bits {
				for _, part := range []shardstore.Part{shardstore.Attention, shardstore.FFN} {
					key := shardstore.Key{Layer: l, Head: h, Part: part, Fidelity: b}
					blob, ok := m.Blobs[key.String()]
					if !ok {
						return nil, fmt.Errorf("profile geometry: manifest has no entry for %s (key %q)", key.Describe(), key.String())
					}
					// A blob costs whole 4 KiB sectors, both to read with
					// direct IO and to hold in an aligned buffer.
					size := storage.AlignUp(blob.Size)
					if part == shardstore.Attention {
						g.Sizes[l][h][i].Attn = size
					} else {
						g.Sizes[l][h][i].FFN = size
					}
				}
			}
		}
	}
	return g, g.Validate()
}

// heldSamples is how many shards' decoded holdings measureHeld takes the
// largest of, per fidelity: they differ by their outliers only.
const heldSamples = 4

// measureHeld sets g's Held sizes: what each shard version holds decoded
// besides its blobs (shardstore.Shard.HeldBytes: integer forms, scales,
// outliers), the largest over a few shards of each fidelity, both parts
// decoded as the executor decodes a preloaded shard.
func measureHeld(ctx context.Context, s *shardstore.Store, g *plan.Geometry) error {
	n := g.Layers * g.Heads
	// One buffer for every shard, and one decoding space per part for
	// every shard of a fidelity, as a slot decodes (a space keeps the
	// largest forms it held, so it is not shared across fidelities): this
	// runs while a classifier opens, whose peak resident set a budget
	// bounds.
	var buf []byte
	for i, b := range g.Bits {
		var sp [2]shardstore.ShardSpace
		var held int64
		for j := range min(heldSamples, n) {
			shard := j * (n - 1) / max(heldSamples-1, 1) // spread over the model
			var sum int64
			for p, part := range []shardstore.Part{shardstore.Attention, shardstore.FFN} {
				k := shardstore.Key{Layer: shard / g.Heads, Head: shard % g.Heads, Part: part, Fidelity: b}
				if size := s.BufferSize(k); cap(buf) < size {
					buf = storage.AlignedBuffer(size)
				}
				sh, err := s.ReadShardIn(ctx, k, buf[:cap(buf)], &sp[p])
				if err != nil {
					return fmt.Errorf("profile geometry: held bytes: %w", err)
				}
				sum += sh.HeldBytes()
			}
			held = max(held, sum)
		}
		for l := range g.Sizes {
			for h := range g.Sizes[l] {
				g.Sizes[l][h][i].Held = held
			}
		}
	}
	return nil
}

// contiguous reports whether s lays a layer's heads at one fidelity and
// part out back to back (plan.Geometry.Contiguous), as Convert does since
// merged reads; stores converted before kept another order.
func contiguous(s *shardstore.Store) bool {
	m := s.Manifest()
	if m.Config.Heads < 2 || len(m.Fidelities) == 0 {
		return false
	}
	f := m.Fidelities[0]
	return s.Adjacent(shardstore.Key{Part: shardstore.Attention, Fidelity: f}, shardstore.Key{Head: 1, Part: shardstore.Attention, Fidelity: f})
}

// Throttled returns a copy of d for the same store read through a
// storage.Throttle of cfg. A throttled read lasts as long as the slower of
// the real read and the emulated one, so the profile keeps the larger
// latency and the smaller bandwidth. With d.ReadQueue reads in flight on
// a device that overlaps them (not cfg.Serial), a stream of reads of b
// bytes takes max(b/B, (L + b/B)/q) a read, which L/q + b/B bounds from
// above: the latency kept is the emulated one over the depth.
func Throttled(d *plan.DeviceProfile, cfg storage.ThrottleConfig) *plan.DeviceProfile {
	out := *d
	lat := cfg.Latency
	if q := d.ReadQueue; q > 1 && !cfg.Serial {
		lat /= time.Duration(q)
	}
	if cfg.Serial {
		// One read at a time: reads in flight gain nothing there, and
		// would split merged reads (a run gets the buffers over the depth).
		out.ReadQueue = 1
	}
	out.ReadLatency = max(out.ReadLatency, lat)
	if cfg.Serial {
		out.Depths = nil
	} else {
		out.Depths = slices.Clone(d.Depths)
		for i := range out.Depths {
			r := &out.Depths[i]
			r.Latency = max(r.Latency, cfg.Latency/time.Duration(r.Queue))
			if cfg.Bandwidth > 0 {
				r.Bandwidth = min(r.Bandwidth, cfg.Bandwidth)
			}
		}
	}
	// How the throttle overlaps concurrent row reads is for a measurement
	// through it to say (MeasureRowReads); until then, one read per row.
	out.RowReadFixed, out.RowReadTime = 0, 0
	if cfg.Bandwidth > 0 {
		out.ReadBandwidth = min(out.ReadBandwidth, cfg.Bandwidth)
	}
	return &out
}
