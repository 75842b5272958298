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

// A preloaded version holds, besides its blobs, what decoding it made: a
// 2-bit shard its codes spread into nibbles, more than a 4-bit one, whose
// codes are viewed in its blob.
func TestMeasureHeld(t *testing.T) {
	_, s, _ := storetest.Fixture(t, "fixtures/tiny-bert", 2, 4)
	g, err := GeometryFromManifest(s.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	if err := measureHeld(t.Context(), s, g); err != nil {
		t.Fatal(err)
	}
	two, four := g.Sizes[0][0][0].Held, g.Sizes[0][0][1].Held
	if four <= 0 || two <= four {
		t.Errorf("held decoded: %d bytes at 2 bits, %d at 4; want 2 bits to hold more, both some", two, four)
	}
	if last := g.Sizes[g.Layers-1][g.Heads-1][0].Held; last != two {
		t.Errorf("every shard gets its fidelity's holding: %d and %d", two, last)
	}
}
