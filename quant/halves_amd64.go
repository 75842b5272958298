//go:build amd64 && !purego

package quant

import "golang.org/x/sys/cpu"

// decodeHalves converts len(dst) binary16 values from src, eight at a
// time with VCVTPH2PS where the CPU has F16C. The conversion is exact
// either way; only a signaling NaN differs, which VCVTPH2PS quiets (sets
// the float32 quiet bit) while decodeHalvesGo keeps its payload as is.
func decodeHalves(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	// VCVTPH2PS is F16C's; it writes YMM registers, which need AVX.
	if n := len(dst) &^ 7; n > 0 && cpu.X86.HasF16C && cpu.X86.HasAVX {
		halvesF16C(&dst[0], &src[0], n)
		dst, src = dst[n:], src[2*n:]
	}
	decodeHalvesGo(dst, src)
}

// halvesF16C converts n binary16 values (n a positive multiple of 8) at
// src into float32 at dst.
//
//go:noescape
func halvesF16C(dst *float32, src *byte, n int)
