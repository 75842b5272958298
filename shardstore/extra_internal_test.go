package shardstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/model/synth"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/storage"
)

// addExtras rewrites the store at uri with the given extra blobs added or
// replaced (keys must start with ProfilePrefix), as versions before
// sidecars saved profiles, so that tests can make such stores. Stores are immutable, so
// this copies every blob into a new store and commits it over the old one
// atomically: a failure leaves the old store as it was.
func addExtras(ctx context.Context, uri string, extras map[string][]byte) error {
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

// TestLegacyExtrasStillRead checks that a store holding profiles inside
// itself, as stores made before sidecars do, still opens and reads them.
func TestLegacyExtrasStillRead(t *testing.T) {
	ctx := context.Background()
	cfg := &bert.Config{ModelType: bert.TypeBERT, VocabSize: 120, Hidden: 32, Layers: 1, Heads: 2, Intermediate: 64,
		MaxPosition: 16, TypeVocab: 2, LayerNormEps: 1e-12, Activation: "gelu", Labels: []string{"a", "b"}}
	m, err := synth.Model(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	vocab, err := synth.Vocab(cfg.VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := bert.NewTokenizer(vocab, bert.TokenizerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uri := "mem:" + t.Name()
	t.Cleanup(func() { storage.DeleteMem(t.Name()) })
	if err := Convert(ctx, uri, m, tok, ConvertOptions{Fidelities: []quant.Fidelity{3}}); err != nil {
		t.Fatal(err)
	}
	if err := addExtras(ctx, uri, map[string][]byte{ProfilePrefix + "x": []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	s, err := OpenURI(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ReadExtra(ctx, ProfilePrefix+"x")
	if err != nil || string(got) != "hello" || !s.HasExtra(ProfilePrefix+"x") || s.HasExtra(ProfilePrefix+"y") {
		t.Fatalf("ReadExtra = %q, %v", got, err)
	}
	if _, err := s.Uniform(ctx, 3); err != nil {
		t.Fatalf("shards after rewrite: %v", err)
	}
}
