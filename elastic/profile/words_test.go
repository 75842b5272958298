package profile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/elastic/plan"
)

func TestProfileWordsCountsRequestsNotOccurrences(t *testing.T) {
	p, err := ProfileWords("test", [][]int{{101, 7, 7, 5, 102}, {101, 5, 102}, {101, 9, 102}})
	if err != nil {
		t.Fatal(err)
	}
	want := []plan.WordCount{{ID: 101, Requests: 3}, {ID: 102, Requests: 3}, {ID: 5, Requests: 2}, {ID: 7, Requests: 1}, {ID: 9, Requests: 1}}
	if diff := cmp.Diff(want, p.Top); diff != "" || p.Requests != 3 {
		t.Errorf("requests %d, top (-want +got):\n%s", p.Requests, diff)
	}
	if err := p.Validate(10); err == nil || !strings.Contains(err.Error(), "token id 101") {
		t.Errorf("ids beyond a vocabulary of 10: err = %v", err)
	}
	// Rows of 100 bytes: 250 bytes hold the two most frequent; a share
	// floor above 1/3 leaves out the tokens of one request in three.
	if got := p.HotRows(250, 100); !cmp.Equal(got, []int{101, 102}) {
		t.Errorf("HotRows(250, 100) = %v, want [101 102]", got)
	}
	if got := p.HotRows(1000, 100); !cmp.Equal(got, []int{5, 7, 9, 101, 102}) {
		t.Errorf("HotRows(1000, 100) = %v, want all five", got)
	}
	if got := p.HotRows(-1, 100); got != nil {
		t.Errorf("HotRows(-1, 100) = %v, want none", got)
	}
	if _, err := ProfileWords("none", nil); err == nil {
		t.Error("a profile of no requests was accepted")
	}
	for name, bad := range map[string]*plan.WordProfile{
		"unsorted":  {Requests: 2, Top: []plan.WordCount{{ID: 1, Requests: 1}, {ID: 2, Requests: 2}}},
		"repeated":  {Requests: 2, Top: []plan.WordCount{{ID: 1, Requests: 2}, {ID: 1, Requests: 1}}},
		"too many":  {Requests: 2, Top: []plan.WordCount{{ID: 1, Requests: 3}}},
		"no counts": {Requests: 0},
	} {
		if err := bad.Validate(0); err == nil {
			t.Errorf("%s profile was accepted", name)
		}
	}
}
