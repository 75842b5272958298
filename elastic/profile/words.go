package profile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/shardstore"
)

// WordsKey is the store key the word profile is saved under.
const WordsKey = shardstore.ProfilePrefix + "words"

// ProfileWords counts the tokens of requests, each given as its input ids.
func ProfileWords(source string, requests [][]int) (*plan.WordProfile, error) {
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
	p := &plan.WordProfile{Source: source, Requests: len(requests), Top: make([]plan.WordCount, 0, len(counts))}
	for id, n := range counts {
		p.Top = append(p.Top, plan.WordCount{ID: id, Requests: n})
	}
	slices.SortFunc(p.Top, func(a, b plan.WordCount) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.ID, b.ID))
	})
	return p, nil
}

// SaveWords validates p and writes it as JSON into the store at uri, under
// WordsKey, replacing any previous one (see SaveImportance).
func SaveWords(ctx context.Context, uri string, p *plan.WordProfile) error {
	if err := p.Validate(0); err != nil {
		return fmt.Errorf("save word profile: %w", err)
	}
	return saveProfile(ctx, uri, WordsKey, "word profile", p)
}

// LoadWords reads the word profile saved in store; nil and no error when
// there is none.
func LoadWords(ctx context.Context, store *shardstore.Store) (*plan.WordProfile, error) {
	var p plan.WordProfile
	if found, err := loadProfile(ctx, store, WordsKey, "word profile", &p); !found || err != nil {
		return nil, err
	}
	if err := p.Validate(store.Config().VocabSize); err != nil {
		return nil, fmt.Errorf("load word profile %s: %w", WordsKey, err)
	}
	return &p, nil
}
