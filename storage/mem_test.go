package storage_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wrxlabs/wrx/storage"
	"github.com/wrxlabs/wrx/storage/storagetest"
)

var memSeq atomic.Int64

// memURI hands out a fresh in-memory store name and forgets it when t ends.
func memURI(t *testing.T) string {
	name := fmt.Sprintf("%s-%d", t.Name(), memSeq.Add(1))
	t.Cleanup(func() { storage.DeleteMem(name) })
	return "mem:" + name
}

func TestMemConformance(t *testing.T) {
	storagetest.Run(t, memURI)
}

// TestMemSidecarsGoWithTheStore: DeleteMem forgets a store's sidecars, so
// a new store of the same name starts with none.
func TestMemSidecarsGoWithTheStore(t *testing.T) {
	ctx := context.Background()
	uri := memURI(t)
	for round := range 2 {
		w, err := storage.Create(ctx, uri, storage.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := storage.ReadSidecar(ctx, uri, "profile.json"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("round %d: ReadSidecar of a new store: err = %v, want ErrNotFound", round, err)
		}
		if err := storage.WriteSidecar(ctx, uri, "profile.json", []byte("x")); err != nil {
			t.Fatal(err)
		}
		storage.DeleteMem(strings.TrimPrefix(uri, "mem:"))
		if _, err := storage.ReadSidecar(ctx, uri, "profile.json"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("round %d: ReadSidecar after DeleteMem: err = %v, want fs.ErrNotExist", round, err)
		}
	}
}
