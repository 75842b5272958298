package shardstore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// layerKeys lists a layer's shard versions at f in the order compute
// streams them: attention parts head by head, then FFN parts.
func layerKeys(heads, layer int, f quant.Fidelity) []shardstore.Key {
	var ks []shardstore.Key
	for _, p := range []shardstore.Part{shardstore.Attention, shardstore.FFN} {
		for h := range heads {
			ks = append(ks, shardstore.Key{Layer: layer, Head: h, Part: p, Fidelity: f})
		}
	}
	return ks
}

// openCounted opens the shard store at uri over a counting wrapper.
func openCounted(t *testing.T, uri string) (*shardstore.Store, *storage.CountingStore) {
	t.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	c := storage.Counting(st)
	s, err := shardstore.Open(ctx, c)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c.Reset() // the manifest
	return s, c
}

// readShards reads ks with ReadShards into fresh buffers.
func readShards(ctx context.Context, s *shardstore.Store, ks []shardstore.Key) ([][]byte, error) {
	bufs := make([][]byte, len(ks))
	for i, k := range ks {
		bufs[i] = storage.AlignedBuffer(s.BufferSize(k))
	}
	return bufs, s.ReadShards(ctx, ks, bufs, make([]shardstore.Shard, len(ks)))
}

// TestReadShardsOneReadPerLayer: Convert lays a layer's shard versions at
// one fidelity out back to back, so ReadShards reads a whole layer with one
// storage read, and gets the blobs ReadBlob gets.
func TestReadShardsOneReadPerLayer(t *testing.T) {
	m, tok, _ := loadModel(t, "fixtures/tiny-bert")
	uri := "file:" + filepath.Join(t.TempDir(), "store")
	convert(t, m, tok, uri, []quant.Fidelity{2, 8}).Close()
	s, counted := openCounted(t, uri)
	ctx := context.Background()
	c := s.Config()
	for l := range c.Layers {
		for _, f := range []quant.Fidelity{2, 8} {
			ks := layerKeys(c.Heads, l, f)
			for i := 1; i < len(ks); i++ {
				if !s.Adjacent(ks[i-1], ks[i]) {
					t.Fatalf("%s does not follow %s in storage", ks[i].Describe(), ks[i-1].Describe())
				}
			}
			counted.Reset()
			bufs, err := readShards(ctx, s, ks)
			if err != nil {
				t.Fatal(err)
			}
			if n := counted.DeviceReads(""); n != 1 {
				t.Errorf("layer %d at %d bits: %d storage reads, want 1", l, f, n)
			}
			if n, _ := counted.Count(""); n != len(ks) {
				t.Errorf("layer %d at %d bits: %d blobs read, want %d", l, f, n, len(ks))
			}
			for i, k := range ks {
				want, err := s.ReadBlob(ctx, k.String(), nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(bufs[i][:len(want)], want) {
					t.Errorf("%s: ReadShards bytes differ from ReadBlob's", k.Describe())
				}
			}
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := readShards(cancelled, s, layerKeys(c.Heads, 0, 8)); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadShards with a cancelled context: err = %v, want context.Canceled", err)
	}
}

// TestReadShardsCorruptBlobNamesShard damages one shard version in the
// middle of a layer in the data file: a merged read of the layer must fail
// with ErrCorrupt and name that shard version.
func TestReadShardsCorruptBlobNamesShard(t *testing.T) {
	m, tok, _ := loadModel(t, "fixtures/tiny-bert")
	uri := "file:" + filepath.Join(t.TempDir(), "store")
	s := convert(t, m, tok, uri, []quant.Fidelity{2, 8})
	ctx := context.Background()
	bad := shardstore.Key{Layer: 1, Head: 1, Part: shardstore.Attention, Fidelity: 8}
	blob, err := s.ReadBlob(ctx, bad.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	blob = append([]byte(nil), blob...)
	s.Close()
	path := dataFile(t, uri)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, blob)
	if at < 0 || bytes.Index(data[at+1:], blob) >= 0 {
		t.Fatalf("blob not found exactly once in %s", path)
	}
	data[at+len(blob)/2] ^= 0x10
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s2, counted := openCounted(t, uri)
	_, err = readShards(ctx, s2, layerKeys(s2.Config().Heads, 1, 8))
	if !errors.Is(err, shardstore.ErrCorrupt) || !strings.Contains(err.Error(), bad.Describe()) {
		t.Fatalf("ReadShards over a damaged blob: err = %v, want ErrCorrupt naming %s", err, bad.Describe())
	}
	if n := counted.DeviceReads(""); n != 1 {
		t.Errorf("%d storage reads, want the layer's one", n)
	}
}

// TestReadShardsLegacyLayout: a store whose blobs lie in the layout of
// stores converted before (layer, head, part, fidelity) reads the same
// with ReadShards, one storage read per blob.
func TestReadShardsLegacyLayout(t *testing.T) {
	m, tok, _ := loadModel(t, "fixtures/tiny-bert")
	ctx := context.Background()
	src := convert(t, m, tok, "file:"+filepath.Join(t.TempDir(), "new"), []quant.Fidelity{2, 8})
	uri := "file:" + filepath.Join(t.TempDir(), "legacy")
	w, err := storage.Create(ctx, uri, storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	copyBlob := func(key string) {
		t.Helper()
		b, err := storage.ReadAll(ctx, src.Storage(), key, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Put(ctx, key, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{shardstore.PositionKey, shardstore.WordKey, shardstore.ResidentKey} {
		copyBlob(k)
	}
	c := src.Config()
	for l := range c.Layers {
		for h := range c.Heads {
			for _, p := range []shardstore.Part{shardstore.Attention, shardstore.FFN} {
				for _, f := range []quant.Fidelity{2, 8} {
					copyBlob(shardstore.Key{Layer: l, Head: h, Part: p, Fidelity: f}.String())
				}
			}
		}
	}
	copyBlob(shardstore.ManifestKey)
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	s, counted := openCounted(t, uri)
	ks := layerKeys(c.Heads, 0, 8)
	if s.Adjacent(ks[0], ks[1]) {
		t.Errorf("legacy layout: %s follows %s", ks[1].Describe(), ks[0].Describe())
	}
	bufs, err := readShards(ctx, s, ks)
	if err != nil {
		t.Fatal(err)
	}
	if n := counted.DeviceReads(""); n != len(ks) {
		t.Errorf("legacy layout: %d storage reads, want %d", n, len(ks))
	}
	for i, k := range ks {
		want, err := src.ReadBlob(ctx, k.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bufs[i][:len(want)], want) {
			t.Errorf("%s: bytes differ from the source store's", k.Describe())
		}
	}
}

// TestShardLookupsAllocateNothing: a request looks up the size of every
// blob it streams, so the lookup must not build the blob's storage key.
func TestShardLookupsAllocateNothing(t *testing.T) {
	m, tok, _ := loadModel(t, "fixtures/tiny-bert")
	s := convert(t, m, tok, "file:"+filepath.Join(t.TempDir(), "store"), []quant.Fidelity{4})
	a := shardstore.Key{Layer: 1, Head: 0, Part: shardstore.FFN, Fidelity: 4}
	b := a
	b.Head = 1
	var n int
	if allocs := testing.AllocsPerRun(100, func() {
		n += int(s.Size(a)) + s.BufferSize(b)
		if s.Adjacent(a, b) {
			n++
		}
	}); allocs != 0 {
		t.Errorf("Size, BufferSize and Adjacent allocate %.0f times", allocs)
	}
	if n <= 0 {
		t.Fatal("no sizes")
	}
}
