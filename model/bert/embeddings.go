package bert

import (
	"context"
	"fmt"
)

// WordEmbeddings serves rows of the word embedding table.
type WordEmbeddings interface {
	// Rows writes the embedding of ids[i] into dst[i*hidden:(i+1)*hidden].
	Rows(ctx context.Context, ids []int, dst []float32) error
}

// DenseWordEmbeddings is a word embedding table held in memory.
type DenseWordEmbeddings struct {
	Hidden int
	Data   []float32 // vocab×Hidden
}

// Rows implements WordEmbeddings.
func (e *DenseWordEmbeddings) Rows(_ context.Context, ids []int, dst []float32) error {
	vocab := len(e.Data) / e.Hidden
	for i, id := range ids {
		if id < 0 || id >= vocab {
			return fmt.Errorf("word embedding: token id %d out of range [0,%d)", id, vocab)
		}
		copy(dst[i*e.Hidden:(i+1)*e.Hidden], e.Data[id*e.Hidden:(id+1)*e.Hidden])
	}
	return nil
}

// Int8WordEmbeddings is a word embedding table held in memory at 8 bits:
// each row quantized symmetrically with its own scale
// (backend.QuantizeRowInt8, as shardstore's WordTableInt8 does), a
// quarter of the float32 table's size. Rows
// are expanded to float32 on lookup, within half a step (Scale[id]/2) of
// the float32 values.
type Int8WordEmbeddings struct {
	Hidden int
	Q      []int8    // vocab×Hidden
	Scale  []float32 // vocab
}

// Rows implements WordEmbeddings.
func (e *Int8WordEmbeddings) Rows(_ context.Context, ids []int, dst []float32) error {
	h := e.Hidden
	for i, id := range ids {
		if id < 0 || id >= len(e.Scale) {
			return fmt.Errorf("word embedding: token id %d out of range [0,%d)", id, len(e.Scale))
		}
		s, q, d := e.Scale[id], e.Q[id*h:(id+1)*h], dst[i*h:(i+1)*h]
		for j, v := range q {
			d[j] = s * float32(v)
		}
	}
	return nil
}
