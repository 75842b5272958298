package quant

import (
	"fmt"
	"strconv"
	"strings"
)

// Fidelity is the number of bits a weight is stored with: 2, 3, 4, 5, 6 or 8
// (dictionary codes with exact outliers), 16 (IEEE fp16) or 32 (fp32).
type Fidelity int

// The fidelities a blob can be encoded at.
const (
	Bits2  Fidelity = 2
	Bits3  Fidelity = 3
	Bits4  Fidelity = 4
	Bits5  Fidelity = 5
	Bits6  Fidelity = 6
	Bits8  Fidelity = 8
	FP16   Fidelity = 16
	FP32   Fidelity = 32
	maxFid          = FP32
)

// AllFidelities returns every valid fidelity in increasing order. The slice
// is new on every call, so callers may modify it.
func AllFidelities() []Fidelity {
	return []Fidelity{Bits2, Bits3, Bits4, Bits5, Bits6, Bits8, FP16, FP32}
}

// Valid reports whether f is one of AllFidelities.
func (f Fidelity) Valid() bool {
	switch f {
	case Bits2, Bits3, Bits4, Bits5, Bits6, Bits8, FP16, FP32:
		return true
	}
	return false
}

// String returns the bit count in decimal ("4", "16"), the same spelling
// ParseFidelity accepts, so fidelities round-trip through flags and JSON
// keys.
func (f Fidelity) String() string { return strconv.Itoa(int(f)) }

// ParseFidelity parses one fidelity written as its bit count, e.g. "4".
func ParseFidelity(s string) (Fidelity, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || !Fidelity(n).Valid() {
		return 0, fmt.Errorf("quant: fidelity %q is not one of %v", s, AllFidelities())
	}
	return Fidelity(n), nil
}

// ParseFidelities parses a comma-separated list such as "2,3,4,8,16,32" and
// returns the fidelities in increasing order without duplicates. An empty
// list is an error, since a store with no fidelity holds nothing.
func ParseFidelities(s string) ([]Fidelity, error) {
	var seen [maxFid + 1]bool
	for _, part := range strings.Split(s, ",") {
		f, err := ParseFidelity(part)
		if err != nil {
			return nil, fmt.Errorf("quant: parsing fidelity list %q: %w", s, err)
		}
		seen[f] = true
	}
	var out []Fidelity
	for _, f := range AllFidelities() {
		if seen[f] {
			out = append(out, f)
		}
	}
	return out, nil
}
