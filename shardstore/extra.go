package shardstore

import (
	"context"
)

// ReadExtra returns the verified contents of an extra blob: a profile
// (a key under ProfilePrefix) kept inside the store by versions before
// profiles moved beside it. A key the store lacks gives an error
// wrapping storage.ErrNotFound.
func (s *Store) ReadExtra(ctx context.Context, key string) ([]byte, error) {
	b, err := s.ReadBlob(ctx, key, nil)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

// HasExtra reports whether the store holds the extra blob key.
func (s *Store) HasExtra(key string) bool {
	_, ok := s.man.Blobs[key]
	return ok
}
