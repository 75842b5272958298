package shardstore

import (
	"context"
	"fmt"

	"github.com/wrxlabs/wrx/storage"
)

// Adjacent reports whether shard version b directly follows a in storage,
// so that ReadShards reads the two with one storage read
// (storage.Adjacent). It is false for a store without that capability, or
// converted before the layout that groups a layer's heads (see Convert).
func (s *Store) Adjacent(a, b Key) bool {
	return storage.Adjacent(s.st, s.name(a), s.name(b))
}

// ReadShards reads the shard versions ks, ks[i] into bufs[i], with as few
// storage reads as the store's layout allows (storage.ReadBatch: a run of
// adjacent versions is one read), verifies each against its manifest
// checksum and decodes it into out[i], as ReadShard does. out must be as
// long as ks and bufs. A buffer that is not aligned or too small for its
// version (BufferSize) is replaced in bufs by a new one; the shards view
// bufs, which must not be reused while they are in use. The bytes of each
// buffer past its blob, up to BufferSize, are overwritten.
//
// An error names the shard version that failed: the one whose checksum or
// decoding failed, or, for a failed read, the storage key in the storage
// error, within the range of shards named.
func (s *Store) ReadShards(ctx context.Context, ks []Key, bufs [][]byte, out []Shard) error {
	if len(bufs) != len(ks) || len(out) != len(ks) {
		return fmt.Errorf("read shards: %d keys, %d buffers, %d results", len(ks), len(bufs), len(out))
	}
	if len(ks) == 0 {
		return nil
	}
	reads := make([]storage.BlobRead, len(ks))
	for i, k := range ks {
		key := s.name(k)
		b, ok := s.man.Blobs[key]
		if !ok {
			return fmt.Errorf("%s: read %s: not in manifest: %w", k.Describe(), key, storage.ErrNotFound)
		}
		if int64(cap(bufs[i])) < storage.AlignUp(b.Size) || !storage.IsAligned(bufs[i]) {
			bufs[i] = storage.AlignedBuffer(int(b.Size))
		}
		reads[i] = storage.BlobRead{Key: key, Dst: bufs[i][:b.Size]}
	}
	if err := storage.ReadBatch(ctx, s.st, reads); err != nil {
		what := ks[0].Describe()
		if len(ks) > 1 {
			what = fmt.Sprintf("%d shard versions from %s to %s", len(ks), ks[0].Describe(), ks[len(ks)-1].Describe())
		}
		return fmt.Errorf("read %s: %w", what, err)
	}
	for i, k := range ks {
		blob := reads[i].Dst
		if got, want := Checksum(blob), s.man.Blobs[reads[i].Key].CRC; got != want {
			return fmt.Errorf("%s: read %s: crc32c %08x, manifest says %08x: %w", k.Describe(), reads[i].Key, got, want, ErrCorrupt)
		}
		if err := repackShard(k, blob); err != nil {
			return err
		}
		sh, err := s.DecodeShard(k, blob)
		if err != nil {
			return err
		}
		out[i] = sh
	}
	return nil
}
