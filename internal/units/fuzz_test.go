package units_test

import (
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/wrxlabs/wrx/internal/units"
)

// parseErr fails t unless err wraps one of the package's two errors.
func parseErr(t *testing.T, what, s string, err error) {
	t.Helper()
	if !errors.Is(err, units.ErrSyntax) && !errors.Is(err, units.ErrRange) {
		t.Fatalf("%s(%q): error %v wraps neither ErrSyntax nor ErrRange", what, s, err)
	}
}

// FuzzParseBytes: any text either fails with ErrSyntax or ErrRange, or
// gives a non-negative size that prints, in bytes, to text that parses
// back exactly, and that FormatBytes prints to within its rounding (below
// 2^62 bytes, past which its rounding may overflow).
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"4MB", "512KiB", "1.5GB", "2 MB", "1048576", "0", "9223372036854775807", "9223372036854775808",
		"8EB", "1e3KB", "-1", "NaN", "Inf MB", "0x10", "1_000", " 7 B ", "1.0000000000000001TiB", "3Mb", ".5kB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := units.ParseBytes(s)
		if err != nil {
			parseErr(t, "ParseBytes", s, err)
			return
		}
		if n < 0 {
			t.Fatalf("ParseBytes(%q) = %d, negative", s, n)
		}
		back, err := units.ParseBytes(strconv.FormatInt(n, 10))
		if err != nil || back != n {
			t.Fatalf("ParseBytes(%q) = %d, but its decimal text parses to %d, %v", s, n, back, err)
		}
		if n > math.MaxInt64/2 {
			return // FormatBytes may round up past the largest size
		}
		text := units.FormatBytes(n)
		approx, err := units.ParseBytes(text)
		if err != nil {
			t.Fatalf("FormatBytes(%d) = %q does not parse: %v", n, text, err)
		}
		// FormatBytes keeps two digits after the point from MB up: within
		// half a unit of its last digit, at most 5% of a value ≥ 1KB.
		if d := math.Abs(float64(approx - n)); d > 0.051*float64(n)+0.5 {
			t.Fatalf("FormatBytes(%d) = %q parses to %d", n, text, approx)
		}
	})
}

// FuzzParseDuration: any text either fails with ErrSyntax or ErrRange, or
// gives a non-negative duration whose String parses back exactly.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"40ms", "1.5s", "250µs", "250us", "0", "-1ms", "2562047h47m16.854775807s", "2562048h", "1h2m3s4ms5us6ns", " 3s ", ".5s", "1e3ms", "5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := units.ParseDuration(s)
		if err != nil {
			parseErr(t, "ParseDuration", s, err)
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		if back, err := units.ParseDuration(d.String()); err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, whose String parses to %v, %v", s, d, back, err)
		}
	})
}

// FuzzParseBandwidth: any text either fails with ErrSyntax or ErrRange, or
// gives a positive finite rate that FormatBandwidthExact prints to text
// that parses back to exactly the same rate.
func FuzzParseBandwidth(f *testing.F) {
	for _, s := range []string{"150MB/s", "80MiB/s", "1.5GB/s", "100B/s", "0B/s", "-1MB/s", "1e308TB/s", "5e-324B/s", "3Mb/s", "10MB", " 2 KB/s "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := units.ParseBandwidth(s)
		if err != nil {
			parseErr(t, "ParseBandwidth", s, err)
			return
		}
		if !(v > 0) || math.IsInf(v, 0) {
			t.Fatalf("ParseBandwidth(%q) = %g, not positive and finite", s, v)
		}
		text := units.FormatBandwidthExact(v)
		if back, err := units.ParseBandwidth(text); err != nil || back != v {
			t.Fatalf("ParseBandwidth(%q) = %g, printed %q, parses to %g, %v", s, v, text, back, err)
		}
	})
}
