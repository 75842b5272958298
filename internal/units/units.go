// Package units formats sizes for people, the same way in the CLI and in
// benchmark reports.
package units

import "fmt"

// Bytes prints n with a decimal unit: 1.50MB, 12.3KB, 512B.
func Bytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fGB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fMB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fKB", float64(n)/1e3)
	}
	return fmt.Sprintf("%dB", n)
}
