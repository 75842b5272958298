package badger

import (
	"context"
	"errors"
	"fmt"
	"io"

	bdg "github.com/dgraph-io/badger/v4"

	"github.com/wrxlabs/wrx/storage"
)

var _ storage.BatchReader = (*Store)(nil)

// Adjacent implements [storage.BatchReader]. Badger has no layout a caller
// could exploit, but a batch shares one read transaction, so any two
// blobs of an open store count as adjacent; a missing key fails the
// ReadBatch that names it.
func (s *Store) Adjacent(prev, next string) bool { return !s.closed.Load() }

// ReadBatch implements [storage.BatchReader]: every blob of reads is
// looked up and copied out in one read transaction. It never writes past
// any len(Dst).
func (s *Store) ReadBatch(ctx context.Context, reads []storage.BlobRead) error {
	if len(reads) == 0 {
		return nil
	}
	if err := s.check(ctx, "read", reads[0].Key); err != nil {
		return err
	}
	var failed string // the key being read when the transaction failed
	err := s.db.View(func(txn *bdg.Txn) error {
		for _, r := range reads {
			failed = r.Key
			if err := ctx.Err(); err != nil {
				return err
			}
			item, err := txn.Get([]byte(r.Key))
			if err != nil {
				return err
			}
			if err := item.Value(func(v []byte) error {
				n, err := storage.CheckRange(r.Key, int64(len(v)), 0, len(r.Dst))
				copy(r.Dst[:n], v)
				return err
			}); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bdg.ErrKeyNotFound):
		return fmt.Errorf("badger %s: %q: %w", s.dir, failed, storage.ErrNotFound)
	case errors.Is(err, bdg.ErrDBClosed):
		return fmt.Errorf("badger %s: read %q: %w", s.dir, failed, storage.ErrClosed)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("badger %s: %w", s.dir, err) // CheckRange names the key
	}
	return fmt.Errorf("badger %s: read %q (in a batch of %d): %w", s.dir, failed, len(reads), err)
}
