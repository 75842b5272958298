package pipeline

import "github.com/wrxlabs/wrx/shardstore"

// mergedRun returns the end j of the run of stream that starts at i and
// that one storage read brings in: stream[i:j] are adjacent in storage
// (shardstore.Store.Adjacent), at most runLen blobs, and their buffers'
// sizes (BufferSize, the blob rounded up to the alignment, as it lies in
// storage) sum to at most limit bytes. A run holds at least one blob,
// however large.
func (e *Executor) mergedRun(stream []shardstore.Key, i, runLen int, limit int64) int {
	j, size := i+1, int64(e.store.BufferSize(stream[i]))
	for j < len(stream) && j-i < runLen && e.store.Adjacent(stream[j-1], stream[j]) {
		n := int64(e.store.BufferSize(stream[j]))
		if size+n > limit {
			break
		}
		size += n
		j++
	}
	return j
}
