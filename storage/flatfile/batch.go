package flatfile

import (
	"context"
	"fmt"
	"io"

	"github.com/wrxlabs/wrx/storage"
)

// maxIovecs bounds the buffers of one preadv(2): IOV_MAX is 1024 on Linux
// and macOS. A merged read takes at most two per blob (the blob and its
// padding), so a run holds at most maxIovecs/2 blobs.
const maxIovecs = 1024

// maxRunBytes bounds the bytes of one merged read, well under the 2 GiB
// that Linux moves in one read system call.
const maxRunBytes = 1 << 30

var _ storage.BatchReader = (*Store)(nil)

// Adjacent implements [storage.BatchReader]: next is adjacent to prev when
// it starts where prev's padding ends, so that the two, padding included,
// are one range of the data file.
func (s *Store) Adjacent(prev, next string) bool {
	if s.closed.Load() {
		return false
	}
	p, ok := find(s.entries, prev)
	if !ok {
		return false
	}
	n, ok := find(s.entries, next)
	return ok && n.offset == storage.AlignUp(p.offset+p.size)
}

// ReadBatch implements [storage.BatchReader]. A run of whole blobs that
// lie back to back in the data file is one preadv(2) straight into their
// buffers, the padding between them included: with direct IO each buffer
// must be aligned with capacity for its blob rounded up to
// [storage.Align] (as from [storage.AlignedBuffer]), and without, the
// padding of a buffer that has no such slack goes to a scratch sector. A
// blob that cannot join a run (a partial read, an unaligned buffer under
// direct IO) is read on its own, as ReadAligned reads it.
func (s *Store) ReadBatch(ctx context.Context, reads []storage.BlobRead) error {
	var run []entry // reused across runs
	for i := 0; i < len(reads); {
		e, err := s.lookup(ctx, "read", reads[i].Key)
		if err != nil {
			return err
		}
		if !s.mergeable(e, reads[i].Dst) {
			n, err := s.readAt(ctx, e.key, reads[i].Dst, 0, true)
			if err != nil {
				return err
			}
			if n != len(reads[i].Dst) { // readAt reports a short blob; be sure
				return fmt.Errorf("flatfile %s: read %q: %d of %d bytes: %w", s.dir, e.key, n, len(reads[i].Dst), io.ErrUnexpectedEOF)
			}
			i++
			continue
		}
		run = append(run[:0], e)
		j, bytes := i+1, storage.AlignUp(e.size)
		for j < len(reads) && j-i < maxIovecs/2 {
			prev := run[len(run)-1]
			next, ok := find(s.entries, reads[j].Key)
			if !ok || next.offset != storage.AlignUp(prev.offset+prev.size) || !s.mergeable(next, reads[j].Dst) || bytes+storage.AlignUp(next.size) > maxRunBytes {
				break
			}
			run = append(run, next)
			bytes += storage.AlignUp(next.size)
			j++
		}
		if err := s.readRun(ctx, run, reads[i:j]); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// mergeable reports whether the read of the whole blob e into dst can be
// part of a merged read.
func (s *Store) mergeable(e entry, dst []byte) bool {
	if int64(len(dst)) != e.size {
		return false
	}
	return !s.direct || storage.IsAligned(dst) && int64(cap(dst)) >= storage.AlignUp(e.size)
}

// readRun reads the adjacent blobs run, whole, into the buffers of reads
// with one preadv(2).
func (s *Store) readRun(ctx context.Context, run []entry, reads []storage.BlobRead) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("flatfile %s: read %q: %w", s.dir, run[0].key, err)
	}
	s.runs.Add(1)
	iov := make([][]byte, 0, 2*len(run))
	var sink *[]byte
	defer func() {
		if sink != nil {
			smallBounce.Put(sink)
		}
	}()
	var total int64
	for k, e := range run {
		dst, padded := reads[k].Dst, storage.AlignUp(e.size)
		if int64(cap(dst)) >= padded {
			iov = append(iov, dst[:padded])
		} else { // only without direct IO (mergeable)
			iov = append(iov, dst)
			if pad := padded - e.size; pad > 0 {
				if sink == nil {
					sink = getSmallBounce()
				}
				iov = append(iov, (*sink)[:pad])
			}
		}
		total += padded
	}
	last := run[len(run)-1]
	need := total - (storage.AlignUp(last.size) - last.size) // the data file ends padded
	n, err := preadvN(s.data, iov, run[0].offset)
	if int64(n) >= need {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	// Name the first blob whose bytes did not all arrive.
	failed, end := last, int64(0)
	for _, e := range run {
		end += storage.AlignUp(e.size)
		if int64(n) < end-(storage.AlignUp(e.size)-e.size) {
			failed = e
			break
		}
	}
	return fmt.Errorf("flatfile %s: read %q (%d bytes at data offset %d, in one read of %d blobs, %d bytes at offset %d; %d arrived): %w",
		s.dir, failed.key, failed.size, failed.offset, len(run), need, run[0].offset, max(n, 0), err)
}
