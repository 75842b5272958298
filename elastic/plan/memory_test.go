package plan

import (
	"errors"
	"testing"

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
