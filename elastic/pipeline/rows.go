package pipeline

import (
	"context"
	"fmt"
	"slices"

	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/internal/freelist"
	"github.com/wrxlabs/wrx/model/bert"
)

// cachedWords serves word rows from memory when it holds them and reads
// the others from the store's rows.
type cachedWords struct {
	hidden int
	index  map[int]int // token id → row in data
	data   []float32
	store  bert.WordEmbeddings
	// misses keep the lists of the rows a call reads, between calls.
	misses freelist.List[*rowMisses]
}

// rowsInto is implemented by the store's word rows (shardstore): it reads
// distinct rows into rows of their own, several at once.
type rowsInto interface {
	RowsInto(ctx context.Context, ids []int, rows [][]float32) error
}

// rowMisses lists the rows of a call the cache lacks.
type rowMisses struct {
	ids  []int
	rows [][]float32
}

// Rows implements bert.WordEmbeddings: the rows the cache lacks are read
// from the store with one call, in the order of ids.
func (c *cachedWords) Rows(ctx context.Context, ids []int, dst []float32) error {
	H := c.hidden
	m, ok := c.misses.Get()
	if !ok {
		m = new(rowMisses)
	}
	defer func() {
		clear(m.rows) // drop the references to dst
		m.ids, m.rows = m.ids[:0], m.rows[:0]
		c.misses.Put(m)
	}()
	into, batch := c.store.(rowsInto)
	for i, id := range ids {
		row := dst[i*H : (i+1)*H]
		if r, ok := c.index[id]; ok {
			copy(row, c.data[r*H:(r+1)*H])
			continue
		}
		if slices.Index(ids[:i], id) >= 0 {
			continue // a repeat: copied below, once read
		}
		if !batch {
			// One row at a time, straight into dst: no buffer to allocate.
			if err := c.store.Rows(ctx, ids[i:i+1], row); err != nil {
				return err
			}
			continue
		}
		m.ids = append(m.ids, id)
		m.rows = append(m.rows, row)
	}
	if len(m.ids) > 0 {
		if err := into.RowsInto(ctx, m.ids, m.rows); err != nil {
			return err
		}
	}
	for i, id := range ids {
		if _, ok := c.index[id]; ok {
			continue
		}
		if j := slices.Index(ids[:i], id); j >= 0 {
			copy(dst[i*H:(i+1)*H], dst[j*H:(j+1)*H])
		}
	}
	return nil
}

// SetRows makes the preload buffer hold the word rows of ids, read from
// the store and verified, in place of the rows it held. The rows count
// against ExecOptions.PreloadLimit together with the preloaded shards.
func (e *Executor) SetRows(ctx context.Context, ids []int) error {
	c := e.skel.Config
	H := c.Hidden
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		if id < 0 || id >= c.VocabSize {
			return fmt.Errorf("preload rows: token id %d outside the vocabulary of %d", id, c.VocabSize)
		}
	}
	bytes := int64(len(ids)) * int64(4*H)
	e.mu.RLock()
	shards := e.pBytes - e.rowBytes()
	e.mu.RUnlock()
	if lim := e.opts.PreloadLimit; lim > 0 && shards+bytes > lim {
		return fmt.Errorf("preload rows: %d word rows need %d bytes and shards %d, over the %d-byte budget", len(ids), bytes, shards, lim)
	}
	var rows *cachedWords
	if len(ids) > 0 {
		data, err := e.mem.newFloats(len(ids) * H)
		if err != nil {
			return fmt.Errorf("preload rows: %w", err)
		}
		rows = &cachedWords{hidden: H, index: make(map[int]int, len(ids)), data: data, store: e.words, misses: freelist.List[*rowMisses]{Max: 8}}
		if err := e.words.Rows(ctx, ids, rows.data); err != nil {
			e.mem.freeFloats(data)
			return fmt.Errorf("preload rows: %w", err)
		}
		for i, id := range ids {
			rows.index[id] = i
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		if rows != nil {
			e.mem.freeFloats(rows.data)
		}
		return errClosed
	}
	if shards := e.pBytes - e.rowBytes(); e.opts.PreloadLimit > 0 && shards+bytes > e.opts.PreloadLimit {
		// The shards changed meanwhile.
		if rows != nil {
			e.mem.freeFloats(rows.data)
		}
		return fmt.Errorf("preload rows: %d word rows need %d bytes and shards %d, over the %d-byte budget", len(ids), bytes, shards, e.opts.PreloadLimit)
	}
	if e.rows != nil {
		e.mem.freeFloats(e.rows.data) // no request runs: we hold mu
	}
	e.pBytes += bytes - e.rowBytes()
	e.rows = rows
	e.skel.Embeddings.Word = e.words
	if rows != nil {
		e.skel.Embeddings.Word = rows
	}
	return nil
}

// rowBytes is the memory of the preloaded word rows; the caller holds mu.
func (e *Executor) rowBytes() int64 {
	if e.rows == nil {
		return 0
	}
	return int64(4 * len(e.rows.data))
}

// CachedRows is how many of the tokens ids need no word-row read: their
// rows are preloaded or they repeat an earlier token (Request.CachedRows).
func (e *Executor) CachedRows(ids []int) int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return plan.CountCachedRows(ids, func(id int) bool {
		if e.rows == nil {
			return false
		}
		_, ok := e.rows.index[id]
		return ok
	})
}
