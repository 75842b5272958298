// Package storetest converts the shared fixture models into shard stores
// for tests, with hand-made profiles where a test needs them. It is
// imported by tests only.
package storetest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// Fixture converts the shared model at rel (such as "fixtures/tiny-bert")
// at fids (nil: every fidelity) into a fresh mem: store named after the
// test, and opens it. It returns the model as loaded, the open store and
// its URI; both are cleaned up with the test. Without ../shared the test
// is skipped (see shared.Path).
func Fixture(t testing.TB, rel string, fids ...quant.Fidelity) (*bert.Model, *shardstore.Store, string) {
	t.Helper()
	dir := sharedDir(t, rel)
	m, err := bert.Load(dir, bert.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := bert.LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	uri := "mem:" + t.Name()
	CleanupMem(t, uri)
	ctx := context.Background()
	if err := shardstore.Convert(ctx, uri, m, tok, shardstore.ConvertOptions{Fidelities: fids, Source: dir}); err != nil {
		t.Fatal(err)
	}
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s, uri
}

// sharedDir is the shared directory rel, or skips the test (shared.Path).
func sharedDir(t testing.TB, rel string) string {
	t.Helper()
	return shared.Path(t, filepath.FromSlash(rel))
}

// CleanupMem deletes a mem: store when the test ends.
func CleanupMem(t testing.TB, uri string) {
	if name, ok := strings.CutPrefix(uri, "mem:"); ok {
		t.Cleanup(func() { storage.DeleteMem(name) })
	}
}
