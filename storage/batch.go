package storage

import (
	"context"
	"fmt"
	"io"
)

// BlobRead is one blob of a batched read: the first len(Dst) bytes of the
// blob under Key are to land in Dst.
type BlobRead struct {
	Key string
	Dst []byte
}

// BatchReader is an optional capability of a [Store]: reading several
// blobs with as few device reads as the store's layout allows. Callers
// reach it through [ReadBatch] and [Adjacent], which fall back to one
// [ReadAligned] per blob, and to "never adjacent", for stores without it.
//
// storage/flatfile reads each run of blobs that lie back to back in its
// data file with one preadv(2) into the callers' buffers; mem: treats
// blobs put one after the other as adjacent; badger: reads a batch in one
// read transaction. The wrappers of this package forward it; [Throttle]
// charges its per-read latency once per run of adjacent blobs.
type BatchReader interface {
	// Adjacent reports whether the blob under next directly follows the
	// blob under prev in storage, so that a ReadBatch of the two, whole
	// and in that order, is one device read. It is false for a key the
	// store does not hold, and after Close.
	Adjacent(prev, next string) bool

	// ReadBatch fills each read's Dst, in order, with the first len(Dst)
	// bytes of the blob under its Key, reading each run of adjacent whole
	// blobs with one device read. Like [AlignedReader.ReadAligned] it may
	// overwrite each Dst[len(Dst):cap(Dst)] up to the next multiple of
	// [Align]. It returns nil only when every Dst is filled; otherwise an
	// error naming the key of the first blob that failed (wrapping io.EOF
	// when the blob is shorter than its Dst). The contents of the Dst of
	// a failed batch are unspecified.
	ReadBatch(ctx context.Context, reads []BlobRead) error
}

// Adjacent reports whether s can read the blob under next together with
// the one under prev in one device read ([BatchReader.Adjacent]). It is
// false for a store without [BatchReader].
func Adjacent(s Store, prev, next string) bool {
	if br, ok := s.(BatchReader); ok {
		return br.Adjacent(prev, next)
	}
	return false
}

// ReadBatch fills each read's Dst with the first len(Dst) bytes of its
// blob, through s's [BatchReader] when s has one and otherwise with one
// [ReadAligned] per blob. It may overwrite the slack of each Dst, as
// ReadAligned does. Errors name the key that failed.
func ReadBatch(ctx context.Context, s Store, reads []BlobRead) error {
	if br, ok := s.(BatchReader); ok {
		return br.ReadBatch(ctx, reads)
	}
	return readEach(ctx, s, reads)
}

// readEach reads a batch one blob at a time.
func readEach(ctx context.Context, s Store, reads []BlobRead) error {
	for _, r := range reads {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %q: %w", r.Key, err)
		}
		n, err := ReadAligned(ctx, s, r.Key, r.Dst, 0)
		if err != nil {
			return err
		}
		if n != len(r.Dst) {
			return fmt.Errorf("read %q: the store delivered %d of %d bytes: %w", r.Key, n, len(r.Dst), io.ErrUnexpectedEOF)
		}
	}
	return nil
}

// runs splits reads into runs that s reads with one device read each:
// maximal sequences of blobs each adjacent to the one before. It calls
// fn for each run in order and stops at the first error.
func runs(s Store, reads []BlobRead, fn func(run []BlobRead) error) error {
	for len(reads) > 0 {
		n := 1
		for n < len(reads) && Adjacent(s, reads[n-1].Key, reads[n].Key) {
			n++
		}
		if err := fn(reads[:n]); err != nil {
			return err
		}
		reads = reads[n:]
	}
	return nil
}
