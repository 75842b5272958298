package units

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		n                   int64
		human, exact, short string
	}{
		{0, "0B", "0 bytes", "0B"},
		{1, "1B", "1 bytes", "1B"},
		{999, "999B", "999 bytes", "999B"},
		{1000, "1.0KB", "1.0KB (1000 bytes)", "1KB"},
		{1024, "1.0KB", "1.0KB (1024 bytes)", "1.02KB"},
		{1536, "1.5KB", "1.5KB (1536 bytes)", "1.54KB"},
		{12345, "12.3KB", "12.3KB (12345 bytes)", "12.3KB"},
		{250_000, "250.0KB", "250.0KB (250000 bytes)", "250KB"},
		// Rounding to 1000 of a unit moves to the next unit.
		{999_999, "1.00MB", "1.00MB (999999 bytes)", "1MB"},
		{999_499, "999.5KB", "999.5KB (999499 bytes)", "999KB"},
		{1_000_000, "1.00MB", "1.00MB (1000000 bytes)", "1MB"},
		{1_048_576, "1.05MB", "1.05MB (1048576 bytes)", "1.05MB"},
		{1_500_000, "1.50MB", "1.50MB (1500000 bytes)", "1.5MB"},
		{2_000_000, "2.00MB", "2.00MB (2000000 bytes)", "2MB"},
		{90_860_000, "90.86MB", "90.86MB (90860000 bytes)", "90.9MB"},
		{2_000_000_000, "2.00GB", "2.00GB (2000000000 bytes)", "2GB"},
		{3_500_000_000_000, "3.50TB", "3.50TB (3500000000000 bytes)", "3.5TB"},
		{-1_500_000, "-1.50MB", "-1.50MB (-1500000 bytes)", "-1.5MB"},
		{math.MaxInt64, "9223372.04TB", "9223372.04TB (9223372036854775807 bytes)", "9.22e+06TB"},
	} {
		got := [3]string{FormatBytes(tc.n), FormatBytesExact(tc.n), FormatBytesShort(tc.n)}
		if diff := cmp.Diff([3]string{tc.human, tc.exact, tc.short}, got); diff != "" {
			t.Errorf("FormatBytes, FormatBytesExact, FormatBytesShort(%d) (-want +got):\n%s", tc.n, diff)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"1048576", 1048576},
		{"512B", 512},
		{"2MB", 2_000_000},
		{"2 MB", 2_000_000},
		{" 4MB ", 4_000_000},
		{"1.5GB", 1_500_000_000},
		{"4.1GB", 4_100_000_000},
		{"1TB", 1e12},
		{"12kB", 12_000},
		{"12KB", 12_000},
		{"512KiB", 512 << 10},
		{"1MiB", 1 << 20},
		{"1.5MiB", 3 << 19},
		{"2GiB", 2 << 30},
		{"1TiB", 1 << 40},
		{"0.5B", 1}, // rounded to the nearest byte
		{"1e3", 1000},
		{"9223372036854775807", math.MaxInt64}, // exact beyond 2^53
		{"9007199254740993B", 9007199254740993},
	} {
		got, err := ParseBytes(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", ErrSyntax},
		{"MB", ErrSyntax},
		{"lots", ErrSyntax},
		{"4mb", ErrSyntax},
		{"4Mb", ErrSyntax}, // bits are not guessed
		{"4 M", ErrSyntax},
		{"NaNMB", ErrSyntax},
		{"-1", ErrRange},
		{"-1MB", ErrRange},
		{"-0.5KB", ErrRange},
		{"InfMB", ErrRange},
		{"1e400", ErrRange},
		{"9223372036854775808", ErrRange},
		{"9223372036854775807KB", ErrRange},
		{"10000000TB", ErrRange},
	} {
		got, err := ParseBytes(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("ParseBytes(%q) = %d, %v, want an error wrapping %v", tc.in, got, err, tc.want)
		}
	}
}

// Every size the formatters print for a budget in whole bytes parses back
// to it, within the rounding of the printed digits.
func TestParseFormatBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		n := r.Int64N(1 << 40)
		for _, s := range []string{FormatBytes(n), FormatBytesShort(n)} {
			got, err := ParseBytes(s)
			if err != nil {
				t.Fatalf("ParseBytes(%q) (from %d): %v", s, n, err)
			}
			if rel := math.Abs(float64(got-n)) / float64(max(n, 1)); rel > 0.01 && math.Abs(float64(got-n)) > 0.5 {
				t.Errorf("ParseBytes(%q) = %d, printed from %d", s, got, n)
			}
		}
	}
}

func TestParseBandwidth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"150MB/s", 150e6},
		{" 150 MB/s", 150e6},
		{"80MiB/s", 80 * 1048576},
		{"500KB/s", 500e3},
		{"500kB/s", 500e3},
		{"4KiB/s", 4096},
		{"1.5GB/s", 1.5e9},
		{"2GiB/s", 2 * 1073741824},
		{"100B/s", 100},
		{"0.5B/s", 0.5},
		{"1TB/s", 1e12},
	} {
		got, err := ParseBandwidth(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseBandwidth(%q) = %v, %v, want %v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", ErrSyntax},
		{"fast", ErrSyntax},
		{"150MB", ErrSyntax},
		{"150/s", ErrSyntax},
		{"150Mb/s", ErrSyntax},
		{"150mb/s", ErrSyntax},
		{"MB/s", ErrSyntax},
		{"NaNMB/s", ErrSyntax},
		{"-5MB/s", ErrRange},
		{"0MB/s", ErrRange},
		{"InfMB/s", ErrRange},
	} {
		got, err := ParseBandwidth(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("ParseBandwidth(%q) = %v, %v, want an error wrapping %v", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatBandwidth(t *testing.T) {
	for _, tc := range []struct {
		bps          float64
		human, exact string
	}{
		{100, "100B/s", "100B/s"},
		{0.5, "0B/s", "0.5B/s"},
		{999.7, "1.0KB/s", "999.7B/s"},
		{4096, "4.1KB/s", "4.096KB/s"},
		{500e3, "500.0KB/s", "500KB/s"},
		{150e6, "150.00MB/s", "150MB/s"},
		{1259.2e6, "1.26GB/s", "1.2592GB/s"},
		{1.5e9, "1.50GB/s", "1.5GB/s"},
		{80 * 1048576, "83.89MB/s", "83.88608MB/s"},
		{2 * 1073741824, "2.15GB/s", "2.147483648GB/s"},
		{123456789.123, "123.46MB/s", "123.456789123MB/s"},
	} {
		got := [2]string{FormatBandwidth(tc.bps), FormatBandwidthExact(tc.bps)}
		if diff := cmp.Diff([2]string{tc.human, tc.exact}, got); diff != "" {
			t.Errorf("FormatBandwidth, FormatBandwidthExact(%v) (-want +got):\n%s", tc.bps, diff)
		}
	}
}

// FormatBandwidthExact reads back as exactly the same rate.
func TestFormatBandwidthExactRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	rates := []float64{1, 0.25, 1e3, 1 << 20, 150e6, 1.5e9, math.MaxFloat64, math.SmallestNonzeroFloat64}
	for range 2000 {
		rates = append(rates, math.Exp(r.Float64()*60-10), float64(r.Int64N(1<<40)))
	}
	for _, bps := range rates {
		s := FormatBandwidthExact(bps)
		if got, err := ParseBandwidth(s); err != nil || got != bps {
			t.Errorf("ParseBandwidth(FormatBandwidthExact(%v) = %q) = %v, %v", bps, s, got, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"40ms", 40 * time.Millisecond},
		{"1.5s", 1500 * time.Millisecond},
		{"250us", 250 * time.Microsecond},
		{"250µs", 250 * time.Microsecond},
		{" 2.5ms ", 2500 * time.Microsecond},
		{"1h2m", 62 * time.Minute},
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v, want %v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", ErrSyntax},
		{"40", ErrSyntax},
		{"fast", ErrSyntax},
		{"150MB/s", ErrSyntax},
		{"9999999999h", ErrSyntax},
		{"-1ms", ErrRange},
	} {
		got, err := ParseDuration(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("ParseDuration(%q) = %v, %v, want an error wrapping %v", tc.in, got, err, tc.want)
		}
	}
}

// Errors name the input they reject.
func TestErrorsNameInput(t *testing.T) {
	_, e1 := ParseBytes("4Mb")
	_, e2 := ParseBandwidth("4Mb/s")
	_, e3 := ParseDuration("-4ms")
	got := []string{e1.Error(), e2.Error(), e3.Error()}
	want := []string{
		`size "4Mb": invalid syntax (want a number of bytes such as 4MB, 512KiB or 1048576)`,
		`bandwidth "4Mb/s": invalid syntax: want a number and B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, each with /s`,
		`duration "-4ms": out of range: negative`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestBudgetAllowance(t *testing.T) {
	for _, c := range []struct{ b, want int64 }{
		{0, 1048576},
		{-5, 1048576},
		{2_000_000, 1048576 + 100_000},
		{16_000_000, 1048576 + 800_000},
		{128_000_000, 1048576 + 6_400_000},
		{19, 1048576}, // 5% of 19 bytes rounds down to 0
	} {
		if got := BudgetAllowance(c.b); got != c.want {
			t.Errorf("BudgetAllowance(%d) = %d, want %d", c.b, got, c.want)
		}
	}
	// 4MB: the limit is 4,000,000 + 1,048,576 + 200,000 = 5,248,576 bytes.
	for _, c := range []struct {
		measured int64
		want     bool
	}{{0, true}, {5_248_576, true}, {5_248_577, false}} {
		if got := FitsBudget(c.measured, 4_000_000); got != c.want {
			t.Errorf("FitsBudget(%d, 4MB) = %v, want %v", c.measured, got, c.want)
		}
	}
}
