// Package units parses and formats sizes, bandwidths and durations for
// people, the same way in the CLI, in planner errors and in benchmark
// reports.
//
// The convention is decimal, chosen once for the whole module: KB, MB, GB
// and TB are powers of 1000, so --budget 2MB means 2,000,000 bytes, and
// every formatter prints decimal units. The parsers also read the binary
// units KiB, MiB, GiB and TiB (powers of 1024), which people type, and
// kB for KB; the formatters never print them. Bits (Mb, mb) are rejected
// rather than guessed, to avoid the Mb/MB mix-up.
//
// Durations are Go durations ("40ms", "1.5s", "250µs" or "250us"), as
// time.ParseDuration reads and time.Duration.String prints them.
package units

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrSyntax is wrapped by the errors of the Parse functions when the text
// is not a number with a known unit.
var ErrSyntax = errors.New("invalid syntax")

// ErrRange is wrapped by the errors of the Parse functions when the number
// is negative (or, for a bandwidth, not positive), not finite, or too
// large for its type.
var ErrRange = errors.New("out of range")

// unit is a suffix and the number of bytes it stands for.
type unit struct {
	suffix string
	scale  float64
}

// parseUnits are the suffixes the parsers read, longest first so that
// "KiB" is not taken for "B".
var parseUnits = []unit{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// decimal are the units the formatters print, smallest first, with the
// digits after the point FormatBytes gives them.
var decimal = []struct {
	unit
	prec int
}{
	{unit{"B", 1}, 0}, {unit{"KB", 1e3}, 1}, {unit{"MB", 1e6}, 2}, {unit{"GB", 1e9}, 2}, {unit{"TB", 1e12}, 2},
}

const unitList = "B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"

// cutUnit splits s into its number and the scale of its unit suffix; ok is
// false when s has none of the suffixes.
func cutUnit(s string) (num string, scale float64, ok bool) {
	for _, u := range parseUnits {
		if n, found := strings.CutSuffix(s, u.suffix); found {
			return strings.TrimSpace(n), u.scale, true
		}
	}
	return s, 1, false
}

// ParseBytes reads a size such as "4MB", "512KiB", "1.5GB", "2 MB" or
// "1048576" (no unit: bytes). KB, MB, GB and TB (and kB) are powers of
// 1000, KiB, MiB, GiB and TiB powers of 1024. A fractional result is
// rounded to the nearest byte. Errors name s and wrap [ErrSyntax] or
// [ErrRange] (negative or over math.MaxInt64 bytes).
func ParseBytes(s string) (int64, error) {
	num, scale, _ := cutUnit(strings.TrimSpace(s))
	if i, err := strconv.ParseInt(num, 10, 64); err == nil {
		// Whole numbers exactly, even beyond float64's 2^53.
		switch {
		case i < 0:
			return 0, fmt.Errorf("size %q: %w: negative", s, ErrRange)
		case i > math.MaxInt64/int64(scale):
			return 0, fmt.Errorf("size %q: %w: over %d bytes", s, ErrRange, int64(math.MaxInt64))
		}
		return i * int64(scale), nil
	}
	v, err := parseNumber(num)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w (want a number of bytes such as 4MB, 512KiB or 1048576)", s, err)
	}
	b := math.Round(v * scale)
	switch {
	case v < 0:
		return 0, fmt.Errorf("size %q: %w: negative", s, ErrRange)
	case b >= math.MaxInt64: // float64(MaxInt64) is 2^63, one over
		return 0, fmt.Errorf("size %q: %w: over %d bytes", s, ErrRange, int64(math.MaxInt64))
	}
	return int64(b), nil
}

// parseNumber reads a finite decimal number, wrapping ErrSyntax or
// ErrRange.
func parseNumber(num string) (float64, error) {
	v, err := strconv.ParseFloat(num, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) || math.IsInf(v, 0):
		return 0, fmt.Errorf("%w: not finite", ErrRange)
	case err != nil || math.IsNaN(v):
		return 0, ErrSyntax
	}
	return v, nil
}

// ParseBandwidth reads a rate in bytes per second such as "150MB/s",
// "80MiB/s", "1.5GB/s" or "100B/s": a positive number and one of the units
// of [ParseBytes] followed by "/s" (the unit is required). Errors name s
// and wrap [ErrSyntax] or [ErrRange] (zero, negative or not finite).
func ParseBandwidth(s string) (float64, error) {
	t := strings.TrimSpace(s)
	t, perSecond := strings.CutSuffix(t, "/s")
	num, scale, ok := cutUnit(t)
	if !perSecond || !ok {
		return 0, fmt.Errorf("bandwidth %q: %w: want a number and %s, each with /s", s, ErrSyntax, unitList)
	}
	v, err := parseNumber(num)
	if err == nil && v <= 0 {
		err = fmt.Errorf("%w: not positive", ErrRange)
	}
	if err == nil && math.IsInf(v*scale, 0) {
		err = fmt.Errorf("%w: not finite in bytes per second", ErrRange)
	}
	if err != nil {
		return 0, fmt.Errorf("bandwidth %q: %w (want a positive number such as 150MB/s)", s, err)
	}
	return v * scale, nil
}

// ParseDuration reads a non-negative Go duration such as "40ms", "1.5s",
// "250µs" or "250us". Errors name s and wrap [ErrSyntax] (which includes
// durations over time.Duration's 292 years, as time.ParseDuration does not
// tell them apart) or [ErrRange] (negative).
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	switch {
	case err != nil:
		return 0, fmt.Errorf("duration %q: %w (want a Go duration such as 40ms, 1.5s or 250µs)", s, ErrSyntax)
	case d < 0:
		return 0, fmt.Errorf("duration %q: %w: negative", s, ErrRange)
	}
	return d, nil
}

// FormatBytes prints n for people with a decimal unit: 512B, 12.3KB,
// 1.50MB, 90.86MB, 2.00GB (one digit after the point for KB, two for MB
// and above). The unit is the largest that keeps the printed number at
// least 1, moving up when rounding would print 1000 (999999 is 1.00MB, not
// 1000.0KB).
func FormatBytes(n int64) string {
	return human(float64(n), "")
}

// FormatBytesExact prints n as FormatBytes does followed by the exact
// count, for errors that compare sizes: "2.00MB (2000000 bytes)", or
// "512 bytes" alone below 1KB.
func FormatBytesExact(n int64) string {
	if n > -1000 && n < 1000 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%s (%d bytes)", FormatBytes(n), n)
}

// FormatBytesShort prints n with at most three significant digits and no
// trailing zeros, for plot labels: 1MB, 250KB, 1.5GB, 999B.
func FormatBytesShort(n int64) string {
	v := float64(n)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	for i, u := range decimal {
		s := strconv.FormatFloat(v/u.scale, 'g', 3, 64)
		if f, _ := strconv.ParseFloat(s, 64); f < 1000 || i == len(decimal)-1 {
			return sign + s + u.suffix
		}
	}
	panic("unreachable")
}

// FormatBandwidth prints a rate of bps bytes per second for people, as
// FormatBytes prints sizes: 512B/s, 150.00MB/s, 1.20GB/s.
func FormatBandwidth(bps float64) string {
	return human(bps, "/s")
}

// FormatBandwidthExact prints bps bytes per second in the largest decimal
// unit in which the shortest text of the number parses back, with
// ParseBandwidth, to exactly bps: 150MB/s, 1.5GB/s, 83.88608MB/s (80MiB/s),
// 100B/s. It is for settings that are printed to be read again, such as a
// throttle. A bps that is not positive and finite, which ParseBandwidth
// rejects, is printed in B/s.
func FormatBandwidthExact(bps float64) string {
	if bps > 0 && !math.IsInf(bps, 0) {
		for i := len(decimal) - 1; i > 0; i-- {
			u := decimal[i]
			q := bps / u.scale
			if q < 1 {
				continue
			}
			s := strconv.FormatFloat(q, 'f', -1, 64)
			if v, err := strconv.ParseFloat(s, 64); err == nil && v*u.scale == bps {
				return s + u.suffix + "/s"
			}
		}
	}
	return strconv.FormatFloat(bps, 'f', -1, 64) + "B/s"
}

// human prints v with the largest decimal unit that keeps it at least 1
// (below 1000 after rounding), then suffix.
func human(v float64, suffix string) string {
	if v < 0 {
		return "-" + human(-v, suffix)
	}
	i := 0
	for i+1 < len(decimal) && v >= decimal[i+1].scale {
		i++
	}
	s := strconv.FormatFloat(v/decimal[i].scale, 'f', decimal[i].prec, 64)
	if f, _ := strconv.ParseFloat(s, 64); f >= 1000 && i+1 < len(decimal) {
		i++
		s = strconv.FormatFloat(v/decimal[i].scale, 'f', decimal[i].prec, 64)
	}
	return s + decimal[i].suffix + suffix
}

// BudgetAllowanceFixed is the fixed part of [BudgetAllowance]: 1 MiB.
const BudgetAllowanceFixed int64 = 1 << 20

// BudgetAllowance is how far a measured model memory may exceed a memory
// budget of b bytes and still fit it: 1 MiB ([BudgetAllowanceFixed]) plus
// 5% of b (b/20, rounded down to a byte), for what a resident-set
// measurement cannot attribute exactly (page granularity, allocator and
// runtime growth). A mode fits a budget b when its measured model bytes
// (peak resident set minus the runtime floor) are at most b +
// BudgetAllowance(b); see [FitsBudget]. A negative b is taken as 0.
func BudgetAllowance(b int64) int64 {
	return BudgetAllowanceFixed + max(b, 0)/20
}

// FitsBudget reports whether measured model bytes fit a budget of b
// bytes: measured ≤ b + [BudgetAllowance](b).
func FitsBudget(measured, b int64) bool {
	return measured <= max(b, 0)+BudgetAllowance(b)
}
