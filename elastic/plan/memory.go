package plan

import (
	"errors"
	"fmt"
	"math"

	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/quant"
)

// Footprint is the memory a streaming classifier holds besides its
// preload buffer. A total memory budget pays for it first; the rest is
// divided between the in-flight blob buffers and the preload buffer (see
// Divide).
type Footprint struct {
	// Resident is the resident parts every request needs (norms, biases,
	// position embeddings, the head).
	Resident int64 `json:"resident_bytes"`
	// Activations is the working memory of one pass over the longest
	// accepted sequence.
	Activations int64 `json:"activations_bytes"`
	// Scratch is the rest a request uses: word-row reads, the bounce
	// buffer of unaligned reads, decode scratch.
	Scratch int64 `json:"scratch_bytes"`
	// Blob[i] is the buffer one in-flight blob needs when no streamed
	// version is above Bits[i], and Form[i] what its decoded shard owns
	// besides (integer forms that do not view the buffer; zero when
	// absent).
	Bits []quant.Fidelity `json:"bits"`
	Blob []int64          `json:"blob_bytes"`
	Form []int64          `json:"form_bytes,omitempty"`
}

// slot is what one in-flight blob costs when no streamed version is above
// Bits[i]: its buffer and what its decoded shard owns.
func (f Footprint) slot(i int) int64 {
	if i < len(f.Form) {
		return f.Blob[i] + f.Form[i]
	}
	return f.Blob[i]
}

// Fixed is what every division of a budget pays before the in-flight
// buffers and the preload buffer.
func (f Footprint) Fixed() int64 { return f.Resident + f.Activations + f.Scratch }

// Min is the smallest total budget that can run anything: the fixed part
// and one in-flight buffer for a blob at the lowest fidelity.
func (f Footprint) Min() int64 {
	if len(f.Blob) == 0 {
		return f.Fixed()
	}
	least := f.slot(0)
	for i := range f.Blob {
		least = min(least, f.slot(i))
	}
	return f.Fixed() + least
}

// Division is how a total memory budget is spent.
type Division struct {
	// Total is the budget divided.
	Total int64 `json:"total_bytes"`
	// Fixed is Footprint.Fixed.
	Fixed int64 `json:"fixed_bytes"`
	// InFlight is K, the number of blobs streamed ahead of compute, and
	// StreamBits the highest fidelity a streamed version may have; each
	// in-flight buffer holds BlobBytes, and its decoded shard owns up to
	// FormBytes more.
	InFlight   int            `json:"in_flight"`
	StreamBits quant.Fidelity `json:"stream_bits"`
	BlobBytes  int64          `json:"blob_bytes"`
	FormBytes  int64          `json:"form_bytes,omitempty"`
	// Preload is what is left for the preload buffer (shards and word
	// rows).
	Preload int64 `json:"preload_bytes"`
}

// InFlightBytes is the memory of the in-flight buffers and what their
// decoded shards own.
func (d Division) InFlightBytes() int64 { return int64(d.InFlight) * (d.BlobBytes + d.FormBytes) }

// String describes d for messages and logs.
func (d Division) String() string {
	return fmt.Sprintf("%s = %s fixed + %d in flight × %s (≤ %d bits) + %s preload",
		units.FormatBytes(d.Total), units.FormatBytes(d.Fixed), d.InFlight, units.FormatBytes(d.BlobBytes+d.FormBytes), d.StreamBits, units.FormatBytes(d.Preload))
}

// ErrBudget is wrapped by the errors of budgets too small to run a
// request.
var ErrBudget = errors.New("memory budget too small")

// BudgetError reports a total budget below Footprint.Min.
type BudgetError struct {
	Budget    int64
	Footprint Footprint
}

func (e *BudgetError) Error() string {
	f := e.Footprint
	return fmt.Sprintf("plan: a memory budget of %s is below the minimum of %s: resident parts %s, activations %s, scratch %s and one in-flight blob of %s",
		units.FormatBytesExact(e.Budget), units.FormatBytesExact(f.Min()), units.FormatBytes(f.Resident), units.FormatBytes(f.Activations),
		units.FormatBytes(f.Scratch), units.FormatBytes(f.Min()-f.Fixed()))
}

// Unwrap returns ErrBudget.
func (e *BudgetError) Unwrap() error { return ErrBudget }

// Divide spends the total budget: for every stored fidelity b it gives the
// in-flight buffers blobs of at most b bits, as many as fit up to
// maxInFlight (at least one), or half as many, or a quarter, down to one,
// and the rest to the preload buffer, and it keeps the division that score
// rates lowest (the predicted loss of a typical request: +Inf when none
// can be planned). Fewer buffers leave more to preload: on a device that
// serves one read at a time a second buffer already keeps it busy, and
// with the integer forms a 2 MB budget's four buffers took 434 KB of its
// 545 KB after the fixed part. Ties go to the higher fidelity, then to
// more buffers. A total below f.Min() is a *BudgetError.
func Divide(total int64, f Footprint, maxInFlight int, score func(Division) float64) (Division, error) {
	if total < f.Min() || len(f.Blob) == 0 || len(f.Blob) != len(f.Bits) || (len(f.Form) != 0 && len(f.Form) != len(f.Bits)) {
		return Division{}, &BudgetError{Budget: total, Footprint: f}
	}
	maxInFlight = max(maxInFlight, 1)
	var best Division
	bestScore := math.Inf(1)
	found := false
	for i := len(f.Bits) - 1; i >= 0; i-- {
		free := total - f.Fixed()
		if f.Blob[i] <= 0 || free < f.slot(i) {
			continue
		}
		for k := int(min(int64(maxInFlight), free/f.slot(i))); k >= 1; k /= 2 {
			d := Division{Total: total, Fixed: f.Fixed(), InFlight: k, StreamBits: f.Bits[i], BlobBytes: f.Blob[i], FormBytes: f.slot(i) - f.Blob[i]}
			d.Preload = free - d.InFlightBytes()
			s := score(d)
			if !found || s < bestScore {
				best, bestScore, found = d, s, true
			}
		}
	}
	if !found {
		return Division{}, &BudgetError{Budget: total, Footprint: f}
	}
	return best, nil
}

// UpTo returns p restricted to the stored fidelities of at most max bits:
// the profiles a planner uses when no version above max may be streamed
// or preloaded.
func (p *Profiles) UpTo(max quant.Fidelity) *Profiles {
	g := *p.Geometry
	keep := 0
	for _, b := range g.Bits {
		if b <= max {
			keep++
		}
	}
	if keep == len(g.Bits) {
		return p
	}
	g.Bits = g.Bits[:keep] // Bits increase
	g.Sizes = make([][][]BlobSizes, len(p.Geometry.Sizes))
	for l, heads := range p.Geometry.Sizes {
		g.Sizes[l] = make([][]BlobSizes, len(heads))
		for h, sz := range heads {
			g.Sizes[l][h] = sz[:keep]
		}
	}
	q := *p
	q.Geometry = &g
	return &q
}
