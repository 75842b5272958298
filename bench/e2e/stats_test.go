package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func msList(ms ...float64) []time.Duration {
	ds := make([]time.Duration, len(ms))
	for i, v := range ms {
		ds[i] = time.Duration(v * float64(time.Millisecond))
	}
	return ds
}

func TestSummarize(t *testing.T) {
	twenty := make([]float64, 20)
	for i := range twenty {
		twenty[i] = float64(20 - i) // 20, 19, ..., 1: unsorted on purpose
	}
	tests := []struct {
		name string
		in   []time.Duration
		want summary
	}{
		{"empty", nil, summary{}},
		{"one", msList(4), summary{N: 1, Median: 4, P95: 4, Mean: 4, Min: 4, Max: 4}},
		{"odd", msList(3, 1, 2), summary{N: 3, Median: 2, P95: 3, Mean: 2, Min: 1, Max: 3}},
		{"even", msList(4, 1, 3, 2), summary{N: 4, Median: 2.5, P95: 4, Mean: 2.5, Min: 1, Max: 4}},
		// ⌈0.95·20⌉ = 19: the 19th smallest of 1..20 is 19, not 20.
		{"twenty", msList(twenty...), summary{N: 20, Median: 10.5, P95: 19, Mean: 10.5, Min: 1, Max: 20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := summarize(tc.in)
			if d := cmp.Diff(tc.want, got, cmpopts.EquateApprox(0, 1e-9)); d != "" {
				t.Errorf("summarize mismatch (-want +got):\n%s", d)
			}
		})
	}
}
