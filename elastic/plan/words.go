package plan

import (
	"errors"
	"fmt"
	"slices"
)

// Word rows. Before any layer can run, a request reads one word-embedding
// row per distinct token, each its own small read: on a device with 0.5 ms
// per read that is most of the smallest feasible latency. Token frequencies
// are very skewed ([CLS], [SEP], "the", punctuation and a few hundred words
// occur in most requests), so the preload buffer also keeps the rows of the
// most frequent tokens, counted on profiling data, and a request reads only
// the others. A row costs its float32 size of the budget; the planner's
// Preload chooses how much of the budget goes to rows (see preloadSplit).

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

// Validate checks that p is a well-formed profile of a vocabulary of
// vocab tokens (0: any).
func (p *WordProfile) Validate(vocab int) error {
	if p == nil {
		return errors.New("plan: word profile is missing")
	}
	if p.Requests <= 0 {
		return fmt.Errorf("plan: word profile counts %d requests", p.Requests)
	}
	// A bitset rather than a map: planners validate their profiles on
	// every New, and a map of tens of thousands of ids is most of what
	// that would allocate.
	top := 0
	for _, w := range p.Top {
		top = max(top, w.ID)
	}
	seen := make([]uint64, top/64+1)
	for i, w := range p.Top {
		switch {
		case w.ID < 0 || (vocab > 0 && w.ID >= vocab):
			return fmt.Errorf("plan: word profile names token id %d, outside the vocabulary of %d", w.ID, vocab)
		case seen[w.ID/64]&(1<<(w.ID%64)) != 0:
			return fmt.Errorf("plan: word profile counts token id %d twice", w.ID)
		case w.Requests <= 0 || w.Requests > p.Requests:
			return fmt.Errorf("plan: word profile says token id %d is in %d of %d requests", w.ID, w.Requests, p.Requests)
		case i > 0 && w.Requests > p.Top[i-1].Requests:
			return fmt.Errorf("plan: word profile is not sorted by count at token id %d", w.ID)
		}
		seen[w.ID/64] |= 1 << (w.ID % 64)
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

// ExpectedHits is how many of a request's seqLen tokens are expected to
// find their word row among rows (a Preload's Rows), rounded down: the
// CachedRows of the typical request a preload buffer is chosen for.
func (p *WordProfile) ExpectedHits(rows []int, seqLen int) int {
	return int(p.expectedHits(rows, seqLen))
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
