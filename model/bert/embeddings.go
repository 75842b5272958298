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
