package units

import "testing"

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 999: "999B", 1000: "1.0KB", 12345: "12.3KB", 1_500_000: "1.50MB", 90_860_000: "90.86MB", 2_000_000_000: "2.00GB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
