package profile

import (
	"context"
	"fmt"
	"time"

	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/internal/stats"
	"github.com/wrxlabs/wrx/shardstore"
)

// decodeSamples is how many shards' blobs decode times per (fidelity,
// part), and decodeRepeats how often each is decoded.
const (
	decodeSamples = 8
	decodeRepeats = 3
)

// decode times what the executor's IO side does with a blob once it is
// read and verified (shardstore.Store.DecodeShardIn: 4-bit repacking,
// decoding, integer forms), per fidelity and part: the median over a few
// shards, each decoded from a fresh copy of its blob into one reused
// ShardSpace, as an in-flight slot decodes request after request.
func (d *deviceRun) decode(ctx context.Context) ([]plan.DecodeTime, error) {
	c := d.cfg
	shards := d.rng.Perm(c.Layers * c.Heads)[:min(decodeSamples, c.Layers*c.Heads)]
	var out []plan.DecodeTime
	for _, f := range d.fids {
		t := plan.DecodeTime{Bits: f}
		for _, part := range []shardstore.Part{shardstore.Attention, shardstore.FFN} {
			var sp shardstore.ShardSpace
			var times []time.Duration
			var buf []byte
			for i, s := range shards {
				k := shardstore.Key{Layer: s / c.Heads, Head: s % c.Heads, Part: part, Fidelity: f}
				orig, err := d.store.ReadShardBlob(ctx, k, nil)
				if err != nil {
					return nil, fmt.Errorf("decode times: %w", err)
				}
				buf = append(buf[:0], orig...)
				for r := range decodeRepeats + 1 {
					copy(buf, orig)
					start := time.Now()
					if _, err := d.store.DecodeShardIn(k, buf, &sp); err != nil {
						return nil, fmt.Errorf("decode times: %w", err)
					}
					if i > 0 || r > 0 { // the first fills the space
						times = append(times, time.Since(start))
					}
				}
			}
			if part == shardstore.Attention {
				t.Attention = stats.Median(times)
			} else {
				t.FFN = stats.Median(times)
			}
		}
		out = append(out, t)
		d.step()
	}
	return out, nil
}
