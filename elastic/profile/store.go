package profile

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// LoadProfiles reads the planner's inputs from a store: its geometry, its
// importance profile, and the device profile measured for backendName,
// adjusted for throttle (zero: none). The read side is then measured again
// on the storage the store reads now (store.Storage(), throttled or not)
// and the slower of the two is kept: the planner must not promise IO the
// device cannot deliver today, and timers under load fire late.
func LoadProfiles(ctx context.Context, store *shardstore.Store, backendName string, throttle storage.ThrottleConfig) (*plan.Profiles, error) {
	g, err := GeometryFromManifest(store.Manifest())
	if err != nil {
		return nil, err
	}
	imp, err := LoadImportance(ctx, store)
	if err != nil {
		return nil, err
	}
	dev, err := LoadDevice(ctx, store, backendName)
	if err != nil {
		return nil, err
	}
	dev = Throttled(dev, throttle)
	bw, lat, err := MeasureReads(ctx, store, store.Storage(), DeviceOptions{})
	if err != nil {
		return nil, err
	}
	dev.ReadBandwidth = min(dev.ReadBandwidth, bw)
	dev.ReadLatency = max(dev.ReadLatency, lat)
	words, err := LoadWords(ctx, store)
	if err != nil {
		return nil, err
	}
	p := &plan.Profiles{Geometry: g, Importance: imp, Device: dev, Words: words}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("elastic: profiles in the store: %w", err)
	}
	return p, nil
}

// saveProfile writes v as JSON into the store at uri under key, replacing
// what was there (see shardstore.AddExtras); what names it in errors.
func saveProfile(ctx context.Context, uri, key, what string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	if err := shardstore.AddExtras(ctx, uri, map[string][]byte{key: b}); err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	return nil
}

// loadProfile decodes the JSON saved in store under key into v; found is
// false, with no error, when the store has none.
func loadProfile(ctx context.Context, store *shardstore.Store, key, what string, v any) (found bool, err error) {
	if !store.HasExtra(key) {
		return false, nil
	}
	b, err := store.ReadExtra(ctx, key)
	if err != nil {
		return true, fmt.Errorf("load %s: %w", what, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("load %s %s: %w", what, key, err)
	}
	return true, nil
}

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
						return nil, fmt.Errorf("elastic: manifest has no entry for %s (key %q)", key.Describe(), key.String())
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

// Throttled returns a copy of d for the same store read through a
// storage.Throttle of cfg. A throttled read lasts as long as the slower of
// the real read and the emulated one, so the profile keeps the larger
// latency and the smaller bandwidth.
func Throttled(d *plan.DeviceProfile, cfg storage.ThrottleConfig) *plan.DeviceProfile {
	out := *d
	out.ReadLatency = max(out.ReadLatency, cfg.Latency)
	if cfg.Bandwidth > 0 {
		out.ReadBandwidth = min(out.ReadBandwidth, cfg.Bandwidth)
	}
	return &out
}
