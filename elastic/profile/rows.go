package profile

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/wrxlabs/wrx/internal/stats"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// rowCounts are the request sizes, in distinct tokens, whose word-row
// reads MeasureRowReads times; rowRepeats is how many requests of each.
var rowCounts = []int{4, 8, 16, 32, 64}

const rowRepeats = 7

// MeasureRowReads times a request's word rows read as the executor reads
// them (store.WordRowsFrom(st): several at once) and fits n rows taking
// fixed + n·perRow (plan.DeviceProfile.RowReadFixed and RowReadTime). Each
// request reads tokens no other has read, so no read is served by a cache
// an earlier one filled. Only opts.Seed matters.
func MeasureRowReads(ctx context.Context, store *shardstore.Store, st storage.Store, opts DeviceOptions) (fixed, perRow time.Duration, err error) {
	if store == nil || st == nil {
		return 0, 0, errors.New("measure row reads: nil store or storage")
	}
	words := store.WordRowsFrom(st)
	c := store.Config()
	rng := rand.New(rand.NewPCG(opts.Seed, 0x726f7773))
	perm := rng.Perm(c.VocabSize)
	var groups []readGroup
	for _, n := range rowCounts {
		times := make([]time.Duration, 0, rowRepeats)
		dst := make([]float32, n*c.Hidden)
		for range rowRepeats {
			if len(perm) < n {
				perm = rng.Perm(c.VocabSize) // a small vocabulary: reads repeat
			}
			ids := perm[:n]
			perm = perm[n:]
			start := time.Now()
			if err := words.Rows(ctx, ids, dst); err != nil {
				return 0, 0, fmt.Errorf("measure row reads: %w", err)
			}
			times = append(times, time.Since(start))
		}
		groups = append(groups, readGroup{bytes: float64(n), time: stats.Median(times)})
	}
	// fitReads fits time against a size; here the size is the row count,
	// so its "bandwidth" is rows per second.
	rate, fixed, err := fitReads(groups)
	if err != nil {
		return 0, 0, fmt.Errorf("measure row reads: %w", err)
	}
	return fixed, time.Duration(1e9 / rate), nil
}
