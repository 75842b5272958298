package storage_test

import (
	"strings"
	"testing"

	"github.com/wrxlabs/wrx/storage"
)

// FuzzParseThrottle: any text is either refused with an error that quotes
// it, or gives a device whose String parses back to the same device.
func FuzzParseThrottle(f *testing.F) {
	for _, s := range []string{"150MB/s,1ms", "1ms,150MB/s", "100MB/s", "0.5ms", "80MiB/s, 250µs", "", ",", "1ms,2ms",
		"1MB/s,2MB/s", "0B/s", "-1ms", "fast", "1e308TB/s,0s", "0s", "3Mb/s", "100MB/s,0.5ms,serial", "serial,serial"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := storage.ParseThrottle(s)
		if err != nil {
			if !strings.Contains(err.Error(), "throttle ") {
				t.Fatalf("ParseThrottle(%q): error %q does not say what failed", s, err)
			}
			return
		}
		if c.Bandwidth < 0 || c.Latency < 0 {
			t.Fatalf("ParseThrottle(%q) = %+v, negative", s, c)
		}
		if c == (storage.ThrottleConfig{}) {
			return // "0s": an unlimited device, which String calls "unlimited"
		}
		back, err := storage.ParseThrottle(c.String())
		if err != nil || back != c {
			t.Fatalf("ParseThrottle(%q) = %+v, printed %q, parses to %+v, %v", s, c, c.String(), back, err)
		}
	})
}
