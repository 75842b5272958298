package profile

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/wrxlabs/wrx/elastic/plan"
)

// ProfileWords counts the tokens of requests, each given as its input ids.
func ProfileWords(source string, requests [][]int) (*plan.WordProfile, error) {
	if len(requests) == 0 {
		return nil, errors.New("profile words: no requests")
	}
	counts := map[int]int{}
	seen := map[int]bool{}
	for _, ids := range requests {
		clear(seen)
		for _, id := range ids {
			if id < 0 {
				return nil, fmt.Errorf("profile words: negative token id %d", id)
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
