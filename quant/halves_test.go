package quant

import (
	"encoding/binary"
	"math"
	"testing"
)

// TestDecodeHalvesAll converts all 65536 binary16 values with
// decodeHalves (VCVTPH2PS where the CPU has F16C) and with the portable
// decodeHalvesGo, at every length mod 8 and unaligned: they must agree bit
// for bit, but for signaling NaNs, which the hardware quiets: those must
// stay NaNs of the same sign and payload, the quiet bit aside.
func TestDecodeHalvesAll(t *testing.T) {
	src := make([]byte, 2*65536+1)[1:] // odd address: unaligned loads
	for h := range 65536 {
		binary.LittleEndian.PutUint16(src[2*h:], uint16(h))
	}
	want := make([]float32, 65536)
	decodeHalvesGo(want, src)
	for _, n := range []int{65536, 65535, 65529, 7, 8, 9, 15, 31, 33, 1, 0} {
		got := make([]float32, n+1)[1:]
		decodeHalves(got, src[:2*n])
		for h := range n {
			g, w := math.Float32bits(got[h]), math.Float32bits(want[h])
			if g == w {
				continue
			}
			const quiet = 1 << 22
			if snan := h&0x7c00 == 0x7c00 && h&0x3ff != 0 && h&0x200 == 0; !snan || g&^quiet != w || g&quiet == 0 {
				t.Fatalf("n=%d: half %#04x converts to %#08x, the reference gives %#08x", n, h, g, w)
			}
		}
	}
	// The reference itself, on a few values whose float32 is known.
	for h, f := range map[uint16]float32{0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: 0x1p-24, 0x0400: 0x1p-14, 0x8000: float32(math.Copysign(0, -1))} {
		if got := want[h]; math.Float32bits(got) != math.Float32bits(f) {
			t.Errorf("half %#04x: reference gives %v, want %v", h, got, f)
		}
	}
}
