package profile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

func TestGeometryFromManifest(t *testing.T) {
	m := &shardstore.Manifest{
		Config:       bert.Config{Layers: 1, Heads: 2},
		Fidelities:   []quant.Fidelity{8, 4},
		WordRowBytes: 1540,
		Blobs:        map[string]shardstore.Blob{},
	}
	// Sizes are read and held in whole 4 KiB sectors, so the geometry
	// rounds them up.
	for h := 0; h < 2; h++ {
		for _, f := range m.Fidelities {
			m.Blobs[shardstore.Key{Layer: 0, Head: h, Part: shardstore.Attention, Fidelity: f}.String()] = shardstore.Blob{Size: 4096*int64(f) + 4096*int64(h)}
			m.Blobs[shardstore.Key{Layer: 0, Head: h, Part: shardstore.FFN, Fidelity: f}.String()] = shardstore.Blob{Size: 8192*int64(f) - 1 + 2*int64(h)}
		}
	}
	g, err := GeometryFromManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	want := &plan.Geometry{
		Layers: 1, Heads: 2, Bits: []quant.Fidelity{4, 8}, EmbeddingRowBytes: 8192, // 1540 bytes may span two sectors
		Sizes: [][][]plan.BlobSizes{{
			{{Attn: 16384, FFN: 32768}, {Attn: 32768, FFN: 65536}},
			{{Attn: 20480, FFN: 36864}, {Attn: 36864, FFN: 69632}},
		}},
	}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("geometry (-want +got):\n%s", diff)
	}
	delete(m.Blobs, "L00/H01/ffn/8")
	if _, err := GeometryFromManifest(m); err == nil || !strings.Contains(err.Error(), "layer 0 head 1 ffn at 8 bits") {
		t.Errorf("missing blob: got %v", err)
	}
}
