package profile

import (
	"testing"

	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// A store Convert lays out now has a layer's heads at one fidelity and
// part back to back, which plan.Geometry.Contiguous says; a store that
// cannot read two blobs in one read does not.
func TestContiguous(t *testing.T) {
	_, s, _ := storetest.Fixture(t, "fixtures/tiny-bert")
	if !contiguous(s) {
		t.Error("a store converted now is not contiguous")
	}
	plain, err := shardstore.Open(t.Context(), noBatch{s.Storage()})
	if err != nil {
		t.Fatal(err)
	}
	if contiguous(plain) {
		t.Error("a store with no batched reads is contiguous")
	}
}

// noBatch hides its store's batched reads.
type noBatch struct{ storage.Store }
