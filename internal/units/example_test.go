package units_test

import (
	"fmt"

	"github.com/wrxlabs/wrx/internal/units"
)

// Sizes are decimal: 2MB is 2,000,000 bytes. Binary units parse too.
func ExampleParseBytes() {
	for _, s := range []string{"2MB", "512KiB", "1.5GB", "1048576"} {
		n, err := units.ParseBytes(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(s, n)
	}
	_, err := units.ParseBytes("2Mb")
	fmt.Println(err)
	// Output:
	// 2MB 2000000
	// 512KiB 524288
	// 1.5GB 1500000000
	// 1048576 1048576
	// size "2Mb": invalid syntax (want a number of bytes such as 4MB, 512KiB or 1048576)
}

// The three forms of a size: for tables, for errors and for plot labels.
func ExampleFormatBytes() {
	fmt.Println(units.FormatBytes(2_000_000), units.FormatBytes(12_345), units.FormatBytes(512))
	fmt.Println(units.FormatBytesExact(2_097_152))
	fmt.Println(units.FormatBytesShort(2_500_000))
	// Output:
	// 2.00MB 12.3KB 512B
	// 2.10MB (2097152 bytes)
	// 2.5MB
}

// A bandwidth setting printed to be read again, and a measured one printed
// for people.
func ExampleParseBandwidth() {
	bps, err := units.ParseBandwidth("80MiB/s")
	if err != nil {
		panic(err)
	}
	fmt.Println(bps, units.FormatBandwidthExact(bps), units.FormatBandwidth(bps))
	// Output: 8.388608e+07 83.88608MB/s 83.89MB/s
}

func ExampleParseDuration() {
	d, err := units.ParseDuration("1.5ms")
	fmt.Println(d, err)
	_, err = units.ParseDuration("-1ms")
	fmt.Println(err)
	// Output:
	// 1.5ms <nil>
	// duration "-1ms": out of range: negative
}
