package plan

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/quant"
)

// A slot pays for its buffer and for what its decoded shard owns: the
// division fits as many as both allow, reports both, and the minimum
// budget includes the cheapest slot's form.
func TestDivideCountsForms(t *testing.T) {
	foot := Footprint{Resident: 100_000, Bits: []quant.Fidelity{2, 8}, Blob: []int64{10_000, 40_000}, Form: []int64{30_000, 30_000}}
	if got, want := foot.Min(), int64(140_000); got != want {
		t.Errorf("Min = %d, want %d", got, want)
	}
	low := func(d Division) float64 { return float64(d.StreamBits) } // prefers 2 bits
	d, err := Divide(300_000, foot, 8, low)
	if err != nil {
		t.Fatal(err)
	}
	// 200,000 free: 5 slots of 10,000 + 30,000, nothing left to preload.
	if d.InFlight != 5 || d.BlobBytes != 10_000 || d.FormBytes != 30_000 || d.Preload != 0 || d.InFlightBytes() != 200_000 {
		t.Errorf("division %+v, want 5 in flight of 10000 + 30000 bytes and no preload", d)
	}
	if _, err := Divide(139_999, foot, 8, low); !errors.Is(err, ErrBudget) {
		t.Errorf("a budget below Min: err = %v, want ErrBudget", err)
	}
}

// TestDivideTradesBuffersForPreload: Divide rates, for each fidelity, as
// many in-flight buffers as fit, then half as many, down to one, each
// leaving the rest to preload, and keeps the best; of equal scores, more
// buffers.
func TestDivideTradesBuffersForPreload(t *testing.T) {
	foot := Footprint{Resident: 100_000, Bits: []quant.Fidelity{2, 8}, Blob: []int64{10_000, 40_000}}
	var rated []string
	preload := func(d Division) float64 {
		rated = append(rated, fmt.Sprintf("%d×%d", d.InFlight, d.StreamBits))
		return -float64(d.Preload)
	}
	d, err := Divide(300_000, foot, 8, preload)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"5×8", "2×8", "1×8", "8×2", "4×2", "2×2", "1×2"}
	if diff := cmp.Diff(want, rated); diff != "" {
		t.Errorf("divisions rated (-want +got):\n%s", diff)
	}
	if d.InFlight != 1 || d.StreamBits != 2 || d.Preload != 190_000 {
		t.Errorf("most preload: division %+v, want 1 in flight of 2 bits and 190000 bytes to preload", d)
	}
	same := func(Division) float64 { return 1 }
	if d, err := Divide(300_000, foot, 8, same); err != nil || d.InFlight != 5 || d.StreamBits != 8 {
		t.Errorf("equal scores: division %+v, %v; want 5 in flight of 8 bits", d, err)
	}
}
