package shardstore

import (
	"fmt"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/model/bert"
)

// residentPart tags the resident blob's section table.
const residentPart Part = 2

// The resident blob: embedding LayerNorm, token type table, head, then six
// vectors per layer (see bert.LayerResident), all fp32.
func encodeResident(m *bert.Model) []byte {
	e, h := &m.Embeddings, &m.Head
	secs := [][]byte{
		floatBytes(e.NormWeight), floatBytes(e.NormBias), floatBytes(e.TokenType),
		floatBytes(h.Dense.Data), floatBytes(h.DenseBias), floatBytes(h.Classifier.Data), floatBytes(h.ClassifierBias),
	}
	for i := range m.Layers {
		r := &m.Layers[i].Resident
		for _, v := range [][]float32{r.AttnOutputBias, r.AttnNormWeight, r.AttnNormBias, r.FFNOutputBias, r.FFNNormWeight, r.FFNNormBias} {
			secs = append(secs, floatBytes(v))
		}
	}
	return packSections(residentPart, secs)
}

// decodeResident fills m's embeddings norm and token types, head and layer
// residents from the resident blob.
func decodeResident(b []byte, m *bert.Model) error {
	c := m.Config
	H, L, labels := c.Hidden, c.Layers, len(c.Labels)
	s, err := unpackSections(b, residentPart, 7+6*L)
	if err != nil {
		return err
	}
	vec := func(i, n int, what string) []float32 {
		if err != nil {
			return nil
		}
		var v []float32
		v, err = viewFloats(s[i], n, what)
		return v
	}
	e := &m.Embeddings
	e.NormWeight = vec(0, H, "embedding norm weight")
	e.NormBias = vec(1, H, "embedding norm bias")
	if c.TypeVocab > 0 {
		e.TokenType = vec(2, c.TypeVocab*H, "token type embeddings")
	}
	m.Head = bert.Head{
		Dense:          &backend.Dense{N: H, K: H, Data: vec(3, H*H, "head dense")},
		DenseBias:      vec(4, H, "head dense bias"),
		Classifier:     &backend.Dense{N: labels, K: H, Data: vec(5, labels*H, "classifier")},
		ClassifierBias: vec(6, labels, "classifier bias"),
	}
	m.Layers = make([]bert.Layer, L)
	for l := range L {
		at := 7 + 6*l
		what := fmt.Sprintf("layer %d resident", l)
		m.Layers[l] = bert.Layer{
			Resident: bert.LayerResident{
				AttnOutputBias: vec(at, H, what), AttnNormWeight: vec(at+1, H, what), AttnNormBias: vec(at+2, H, what),
				FFNOutputBias: vec(at+3, H, what), FFNNormWeight: vec(at+4, H, what), FFNNormBias: vec(at+5, H, what),
			},
			Attention: make([]*bert.AttentionShard, c.Heads),
			FFN:       make([]*bert.FFNShard, c.Heads),
		}
	}
	return err
}
