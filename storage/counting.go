package storage

import (
	"context"
	"strings"
	"sync"
)

// Read records one ReadAt or ReadAligned call seen by a [CountingStore].
type Read struct {
	Key string
	Off int64 // offset in the blob
	Len int   // bytes asked for
	N   int   // bytes delivered
	// Run numbers, from 1, the device read of a ReadBatch this blob was
	// read in: blobs with the same Run were one read. It is 0 for ReadAt
	// and ReadAligned, each of which is a read of its own.
	Run int
}

// CountingStore is a Store wrapper that records every read, so a test can
// prove what a request touched (for instance, that it read only the
// embedding rows of its own tokens). It keeps every Read until Reset, so it
// is meant for tests, not long runs. Make one with [Counting].
type CountingStore struct {
	s     Store
	mu    sync.Mutex
	reads []Read
	runs  int // runs of adjacent blobs read by ReadBatch so far
}

var (
	_ AlignedReader = (*CountingStore)(nil)
	_ BatchReader   = (*CountingStore)(nil)
)

// Counting wraps s to record its reads.
func Counting(s Store) *CountingStore { return &CountingStore{s: s} }

// Size implements [Store]; it is not counted.
func (c *CountingStore) Size(ctx context.Context, key string) (int64, error) {
	return c.s.Size(ctx, key)
}

// ReadAt implements [Store] and records the call, failed or not.
func (c *CountingStore) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	n, err := c.s.ReadAt(ctx, key, dst, off)
	c.record(key, off, len(dst), n)
	return n, err
}

// ReadAligned implements [AlignedReader] by forwarding to the wrapped
// store's ReadAligned (its ReadAt if it has none), and records the call as
// ReadAt does.
func (c *CountingStore) ReadAligned(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	n, err := ReadAligned(ctx, c.s, key, dst, off)
	c.record(key, off, len(dst), n)
	return n, err
}

func (c *CountingStore) record(key string, off int64, asked, n int) {
	c.mu.Lock()
	c.reads = append(c.reads, Read{Key: key, Off: off, Len: asked, N: n})
	c.mu.Unlock()
}

// Adjacent implements [BatchReader] by asking the wrapped store; it is not
// counted.
func (c *CountingStore) Adjacent(prev, next string) bool { return Adjacent(c.s, prev, next) }

// ReadBatch implements [BatchReader] by forwarding each run of adjacent
// blobs to the wrapped store's ReadBatch (one ReadAligned per blob if it
// has none). It records every blob as a [Read], with the number of its
// run, so that [CountingStore.Count] still counts blobs and
// [CountingStore.DeviceReads] counts each run once. A failed run records
// its blobs as delivering nothing.
func (c *CountingStore) ReadBatch(ctx context.Context, reads []BlobRead) error {
	return runs(c.s, reads, func(run []BlobRead) error {
		err := ReadBatch(ctx, c.s, run)
		c.mu.Lock()
		c.runs++
		for _, r := range run {
			n := len(r.Dst)
			if err != nil {
				n = 0
			}
			c.reads = append(c.reads, Read{Key: r.Key, Len: len(r.Dst), N: n, Run: c.runs})
		}
		c.mu.Unlock()
		return err
	})
}

// DeviceReads returns how many device reads of keys starting with prefix
// were recorded: each ReadAt and ReadAligned, and each run of a ReadBatch
// once, however many blobs it held. An empty prefix counts every read.
func (c *CountingStore) DeviceReads(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, last := 0, 0
	for _, r := range c.reads {
		if !strings.HasPrefix(r.Key, prefix) {
			continue
		}
		if r.Run == 0 || r.Run != last {
			n++
		}
		last = r.Run
	}
	return n
}

// Keys implements [Store]; it is not counted.
func (c *CountingStore) Keys(ctx context.Context, prefix string) ([]string, error) {
	return c.s.Keys(ctx, prefix)
}

// Close implements [Store].
func (c *CountingStore) Close() error { return c.s.Close() }

// Reads returns a copy of the reads recorded so far, in the order they
// completed.
func (c *CountingStore) Reads() []Read {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Read{}, c.reads...)
}

// Count returns how many reads of keys starting with prefix were recorded,
// and how many bytes they delivered. An empty prefix counts every read.
func (c *CountingStore) Count(prefix string) (reads int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.reads {
		if strings.HasPrefix(r.Key, prefix) {
			reads++
			bytes += int64(r.N)
		}
	}
	return reads, bytes
}

// Reset forgets the recorded reads.
func (c *CountingStore) Reset() {
	c.mu.Lock()
	c.reads = nil
	c.runs = 0
	c.mu.Unlock()
}
