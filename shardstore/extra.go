package shardstore

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/wrxlabs/wrx/storage"
)

// ReadExtra returns the verified contents of an extra blob such as a
// profile (a key under ProfilePrefix). A key the store lacks gives an error
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

// AddExtras rewrites the store at uri with the given extra blobs added or
// replaced (keys must start with ProfilePrefix). Stores are immutable, so
// this copies every blob into a new store and commits it over the old one
// atomically: a failure leaves the old store as it was.
func AddExtras(ctx context.Context, uri string, extras map[string][]byte) error {
	for k := range extras {
		if !strings.HasPrefix(k, ProfilePrefix) {
			return fmt.Errorf("add to %s: extra key %q must start with %q", uri, k, ProfilePrefix)
		}
	}
	src, err := OpenURI(ctx, uri)
	if err != nil {
		return err
	}
	defer src.Close()
	w, err := storage.Create(ctx, uri, storage.CreateOptions{Overwrite: true})
	if err != nil {
		return fmt.Errorf("add to %s: %w", uri, err)
	}
	defer w.Abort()
	man := *src.man
	man.Blobs = make(map[string]Blob, len(src.man.Blobs)+len(extras))
	keys := make([]string, 0, len(src.man.Blobs))
	for k := range src.man.Blobs {
		if _, replaced := extras[k]; !replaced {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var buf []byte
	for _, k := range keys {
		b, err := src.ReadBlob(ctx, k, buf)
		if err != nil {
			return fmt.Errorf("add to %s: copy: %w", uri, err)
		}
		buf = b
		if err := w.Put(ctx, k, b); err != nil {
			return fmt.Errorf("add to %s: copy %s: %w", uri, k, err)
		}
		man.Blobs[k] = src.man.Blobs[k]
	}
	for k, b := range extras {
		if err := w.Put(ctx, k, b); err != nil {
			return fmt.Errorf("add to %s: write %s: %w", uri, k, err)
		}
		man.Blobs[k] = Blob{Size: int64(len(b)), CRC: Checksum(b)}
	}
	mb, err := encodeManifest(&man)
	if err != nil {
		return err
	}
	if err := w.Put(ctx, ManifestKey, mb); err != nil {
		return fmt.Errorf("add to %s: write manifest: %w", uri, err)
	}
	src.Close()
	if err := w.Commit(ctx); err != nil {
		return fmt.Errorf("add to %s: commit: %w", uri, err)
	}
	return nil
}
