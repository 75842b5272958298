package shardstore_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wrxlabs/wrx/internal/leaktest"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// Word rows read by a request, several at once (shardstore.RowReaders),
// equal the word table's, repeats included, from goroutines at once; a
// read error names the row, and a cancelled read returns with every
// reader stopped.
func TestWordRowsConcurrent(t *testing.T) {
	defer leaktest.Check(t)()
	m, tok, _ := loadModel(t, "fixtures/tiny-bert")
	ctx := context.Background()
	uri := "file:" + filepath.Join(t.TempDir(), "store")
	s := convert(t, m, tok, uri, []quant.Fidelity{8})
	table, err := s.WordTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	skel, err := s.Skeleton(ctx)
	if err != nil {
		t.Fatal(err)
	}
	words := skel.Embeddings.Word
	H, vocab := table.Hidden, len(table.Data)/table.Hidden
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for range 50 {
				ids := make([]int, 1+rng.IntN(40))
				for i := range ids {
					ids[i] = rng.IntN(vocab)
					if i > 0 && rng.IntN(4) == 0 {
						ids[i] = ids[rng.IntN(i)] // a repeat
					}
				}
				dst := make([]float32, len(ids)*H)
				if err := words.Rows(ctx, ids, dst); err != nil {
					errs <- err
					return
				}
				for i, id := range ids {
					for j := range H {
						if dst[i*H+j] != table.Data[id*H+j] {
							errs <- errors.New("row differs from the word table")
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	if err := words.Rows(ctx, []int{1, vocab}, make([]float32, 2*H)); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("token id %d: err = %v, want out of range", vocab, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	ids := []int{3, 5, 7, 11, 13, 17, 19, 23}
	if err := words.Rows(cancelled, ids, make([]float32, len(ids)*H)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}

// A failing read of one row among many is reported, naming the row, and
// no reader is left running.
func TestWordRowsReadError(t *testing.T) {
	defer leaktest.Check(t)()
	m, tok, _ := loadModel(t, "fixtures/tiny-bert")
	ctx := context.Background()
	uri := "file:" + filepath.Join(t.TempDir(), "store")
	convert(t, m, tok, uri, []quant.Fidelity{8})
	st, err := storage.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	fail := errors.New("injected")
	faulty := storage.Faulty(st, storage.Fault{Op: storage.OpRead, Key: shardstore.WordKey, Call: 4, Err: fail})
	s, err := shardstore.Open(ctx, faulty)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	skel, err := s.Skeleton(ctx)
	if err != nil {
		t.Fatal(err)
	}
	H := s.Config().Hidden
	ids := []int{3, 5, 7, 11, 13, 17, 19, 23}
	err = skel.Embeddings.Word.Rows(ctx, ids, make([]float32, len(ids)*H))
	if faulty.Fired() != 1 || !errors.Is(err, fail) || !strings.Contains(err.Error(), "(word embedding)") || !strings.Contains(err.Error(), " row ") {
		t.Errorf("fired %d, err = %v; want the injected error naming a word row", faulty.Fired(), err)
	}
}
