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
	if len(out) != len(ks) {
		return fmt.Errorf("read shards: %d keys, %d results", len(ks), len(out))
	}
	reads := make([]storage.BlobRead, len(ks))
	if err := s.ReadShardBlobs(ctx, ks, bufs, reads); err != nil {
		return err
	}
	for i, k := range ks {
		if err := repackShard(k, reads[i].Dst); err != nil {
			return err
		}
		sh, err := s.DecodeShard(k, reads[i].Dst)
		if err != nil {
			return err
		}
		out[i] = sh
	}
	return nil
}

// ReadShardBlobs is the first half of ReadShards, as ReadShardBlob is of
// ReadShardIn: it reads the blobs of ks with as few storage reads as the
// layout allows and verifies each against its manifest checksum. reads,
// as long as ks, receives the storage read of each: reads[i].Dst is the
// blob of ks[i], a prefix of bufs[i] (replaced, as in ReadShards, when it
// is not aligned or too small). The caller then decodes each where it
// likes (DecodeShardIn), so that a merged read decodes into kept memory as
// a single one does; with reads kept between calls, it allocates nothing
// beyond replaced buffers.
func (s *Store) ReadShardBlobs(ctx context.Context, ks []Key, bufs [][]byte, reads []storage.BlobRead) error {
	if len(bufs) != len(ks) || len(reads) != len(ks) {
		return fmt.Errorf("read shards: %d keys, %d buffers, %d reads", len(ks), len(bufs), len(reads))
	}
	if len(ks) == 0 {
		return nil
	}
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
		if got, want := Checksum(reads[i].Dst), s.man.Blobs[reads[i].Key].CRC; got != want {
			return fmt.Errorf("%s: read %s: crc32c %08x, manifest says %08x: %w", k.Describe(), reads[i].Key, got, want, ErrCorrupt)
		}
	}
	return nil
}
