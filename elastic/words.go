package elastic

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/shardstore"
)

// Word rows. Before any layer can run, a request reads one word-embedding
// row per distinct token, each its own small read: on a device with 0.5 ms
// per read that is most of the smallest feasible latency. Token frequencies
// are very skewed ([CLS], [SEP], "the", punctuation and a few hundred words
// occur in most requests), so the preload buffer also keeps the rows of the
// most frequent tokens, counted on profiling data, and a request reads only
// the others. A row costs its float32 size of the budget; the planner's
// Preload chooses how much of the budget goes to rows (see preloadSplit).

// WordsKey is the store key the word profile is saved under.
const WordsKey = shardstore.ProfilePrefix + "words"

// WordProfile counts, per token id, how many profiling requests contain
// it.
type WordProfile struct {
	// Source describes the data counted.
	Source string `json:"source"`
	// Requests is how many requests were counted.
	Requests int `json:"requests"`
	// Top lists every token seen, by decreasing count, then by id.
	Top []WordCount `json:"top"`
}

// WordCount is one token's count.
type WordCount struct {
	ID       int `json:"id"`
	Requests int `json:"requests"`
}

// ProfileWords counts the tokens of requests, each given as its input ids.
func ProfileWords(source string, requests [][]int) (*WordProfile, error) {
	if len(requests) == 0 {
		return nil, errors.New("elastic: word profile: no requests")
	}
	counts := map[int]int{}
	seen := map[int]bool{}
	for _, ids := range requests {
		clear(seen)
		for _, id := range ids {
			if id < 0 {
				return nil, fmt.Errorf("elastic: word profile: negative token id %d", id)
			}
			if !seen[id] {
				seen[id] = true
				counts[id]++
			}
		}
	}
	p := &WordProfile{Source: source, Requests: len(requests), Top: make([]WordCount, 0, len(counts))}
	for id, n := range counts {
		p.Top = append(p.Top, WordCount{ID: id, Requests: n})
	}
	slices.SortFunc(p.Top, func(a, b WordCount) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.ID, b.ID))
	})
	return p, nil
}

// Validate checks that p is a well-formed profile of a vocabulary of
// vocab tokens (0: any).
func (p *WordProfile) Validate(vocab int) error {
	if p == nil {
		return errors.New("elastic: word profile is missing")
	}
	if p.Requests <= 0 {
		return fmt.Errorf("elastic: word profile counts %d requests", p.Requests)
	}
	seen := make(map[int]bool, len(p.Top))
	for i, w := range p.Top {
		switch {
		case w.ID < 0 || (vocab > 0 && w.ID >= vocab):
			return fmt.Errorf("elastic: word profile names token id %d, outside the vocabulary of %d", w.ID, vocab)
		case seen[w.ID]:
			return fmt.Errorf("elastic: word profile counts token id %d twice", w.ID)
		case w.Requests <= 0 || w.Requests > p.Requests:
			return fmt.Errorf("elastic: word profile says token id %d is in %d of %d requests", w.ID, w.Requests, p.Requests)
		case i > 0 && w.Requests > p.Top[i-1].Requests:
			return fmt.Errorf("elastic: word profile is not sorted by count at token id %d", w.ID)
		}
		seen[w.ID] = true
	}
	return nil
}

// MinRowShare is the smallest share of profiled requests a token must
// occur in for its row to be preloaded: rarer rows would take budget for
// almost no saved reads.
const MinRowShare = 0.002

// HotRows returns the ids of the most frequent tokens whose rows, rowBytes
// each, fit in bytes, leaving out tokens in fewer than MinRowShare of the
// profiled requests. The ids are sorted.
func (p *WordProfile) HotRows(bytes, rowBytes int64) []int {
	if p == nil || rowBytes <= 0 || bytes < rowBytes {
		return nil
	}
	n := min(bytes/rowBytes, int64(len(p.Top)))
	ids := make([]int, 0, n)
	for _, w := range p.Top[:n] {
		if float64(w.Requests) < MinRowShare*float64(p.Requests) {
			break
		}
		ids = append(ids, w.ID)
	}
	slices.Sort(ids)
	return ids
}

// expectedHits is how many of a request's seqLen tokens are expected to
// find their row among ids: the sum of the rows' shares of requests,
// capped at seqLen.
func (p *WordProfile) expectedHits(ids []int, seqLen int) float64 {
	if p == nil || len(ids) == 0 {
		return 0
	}
	in := make(map[int]bool, len(ids))
	for _, id := range ids {
		in[id] = true
	}
	var hits float64
	for _, w := range p.Top {
		if in[w.ID] {
			hits += float64(w.Requests) / float64(p.Requests)
		}
	}
	return min(hits, float64(seqLen))
}

// SaveWords validates p and writes it as JSON into the store at uri, under
// WordsKey, replacing any previous one (see SaveImportance).
func SaveWords(ctx context.Context, uri string, p *WordProfile) error {
	if err := p.Validate(0); err != nil {
		return fmt.Errorf("save word profile: %w", err)
	}
	return saveProfile(ctx, uri, WordsKey, "word profile", p)
}

// LoadWords reads the word profile saved in store; nil and no error when
// there is none.
func LoadWords(ctx context.Context, store *shardstore.Store) (*WordProfile, error) {
	var p WordProfile
	if found, err := loadProfile(ctx, store, WordsKey, "word profile", &p); !found || err != nil {
		return nil, err
	}
	if err := p.Validate(store.Config().VocabSize); err != nil {
		return nil, fmt.Errorf("load word profile %s: %w", WordsKey, err)
	}
	return &p, nil
}

// cachedWords serves word rows from memory when it holds them and reads
// the others from the store's rows.
type cachedWords struct {
	hidden int
	index  map[int]int // token id → row in data
	data   []float32
	store  bert.WordEmbeddings
}

// Rows implements bert.WordEmbeddings: one store read for the rows the
// cache lacks, in the order of ids.
func (c *cachedWords) Rows(ctx context.Context, ids []int, dst []float32) error {
	H := c.hidden
	var missIDs, missPos []int
	for i, id := range ids {
		if r, ok := c.index[id]; ok {
			copy(dst[i*H:(i+1)*H], c.data[r*H:(r+1)*H])
			continue
		}
		missIDs, missPos = append(missIDs, id), append(missPos, i)
	}
	if len(missIDs) == 0 {
		return nil
	}
	buf := make([]float32, len(missIDs)*H)
	if err := c.store.Rows(ctx, missIDs, buf); err != nil {
		return err
	}
	for j, i := range missPos {
		copy(dst[i*H:(i+1)*H], buf[j*H:(j+1)*H])
	}
	return nil
}

// CountCachedRows is how many of the tokens ids need no word-row read
// when preloaded reports the rows in memory: those rows, and repeats of an
// earlier token (Request.CachedRows).
func CountCachedRows(ids []int, preloaded func(id int) bool) int {
	seen := make(map[int]bool, len(ids))
	n := 0
	for _, id := range ids {
		if seen[id] || preloaded(id) {
			n++
		}
		seen[id] = true
	}
	return n
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
		rows = &cachedWords{hidden: H, index: make(map[int]int, len(ids)), data: make([]float32, len(ids)*H), store: e.words}
		if err := e.words.Rows(ctx, ids, rows.data); err != nil {
			return fmt.Errorf("preload rows: %w", err)
		}
		for i, id := range ids {
			rows.index[id] = i
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
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
	return CountCachedRows(ids, func(id int) bool {
		if e.rows == nil {
			return false
		}
		_, ok := e.rows.index[id]
		return ok
	})
}
