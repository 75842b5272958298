package pipeline

import (
	"context"
	"time"

	"github.com/wrxlabs/wrx/shardstore"
)

// mergedRun returns the end j of the run of stream that starts at i and
// that one storage read brings in: stream[i:j] are adjacent in storage
// (shardstore.Store.Adjacent), at most slots blobs, and their buffers'
// sizes (BufferSize, the blob rounded up to the alignment, as it lies in
// storage) sum to at most limit bytes. A run holds at least one blob,
// however large.
func (e *Executor) mergedRun(stream []shardstore.Key, i, slots int, limit int64) int {
	j, size := i+1, int64(e.store.BufferSize(stream[i]))
	for j < len(stream) && j-i < slots && e.store.Adjacent(stream[j-1], stream[j]) {
		n := int64(e.store.BufferSize(stream[j]))
		if size+n > limit {
			break
		}
		size += n
		j++
	}
	return j
}

// streamMerged is the IO goroutine's loop when ExecOptions.MaxReadBytes is
// set: it reads stream in runs of blobs that lie back to back in storage,
// each run with one read (shardstore.Store.ReadShards) into as many slot
// buffers, which it takes from free (fill gives a slot a large enough buffer),
// and sends every blob of the run to arrivals in stream order, as the
// one-blob-per-read loop does. A run holds at most slots blobs, so the
// buffers it waits for are released by compute folding in what was sent
// before. It adds the time its reads take to *busy and returns their
// number. On an error it sends it, as
// the arrival of the run's first blob, and stops.
func (e *Executor) streamMerged(ctx context.Context, stream []shardstore.Key, slots int, free <-chan *slot, arrivals chan<- arrival, busy *time.Duration, fill func(*slot) error) int {
	limit := e.opts.MaxReadBytes
	bufs := make([][]byte, 0, slots)
	taken := make([]*slot, 0, slots)
	shards := make([]shardstore.Shard, slots)
	reads := 0
	fail := func(k shardstore.Key, err error) {
		select {
		case arrivals <- arrival{key: k, err: err}:
		case <-ctx.Done():
		}
	}
	for i := 0; i < len(stream); {
		j := e.mergedRun(stream, i, slots, limit)
		bufs, taken = bufs[:0], taken[:0]
		for range j - i {
			var sl *slot
			select {
			case sl = <-free:
			case <-ctx.Done():
				return reads
			}
			if err := fill(sl); err != nil {
				fail(stream[i], err)
				return reads
			}
			bufs, taken = append(bufs, sl.buf), append(taken, sl)
		}
		run := shards[:j-i]
		t := time.Now()
		err := e.store.ReadShards(ctx, stream[i:j], bufs, run)
		*busy += time.Since(t)
		if err != nil {
			fail(stream[i], err)
			return reads
		}
		reads++
		for n, sh := range run {
			select {
			case arrivals <- arrival{key: stream[i+n], shard: sh, slot: taken[n]}:
			case <-ctx.Done():
				return reads
			}
		}
		i = j
	}
	return reads
}
