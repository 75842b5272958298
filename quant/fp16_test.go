package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestHalfKnownPatterns checks conversions against binary16 bit patterns
// from the IEEE 754 standard's format definition.
func TestHalfKnownPatterns(t *testing.T) {
	cases := []struct {
		f float32
		h uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.5, 0x3800},
		{65504, 0x7bff},                       // largest finite
		{float32(math.Ldexp(1, -14)), 0x0400}, // smallest normal
		{float32(math.Ldexp(1, -24)), 0x0001}, // smallest subnormal
		{float32(math.Ldexp(1023, -24)), 0x03ff},
		{float32(math.Inf(1)), 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
		{0.333251953125, 0x3555}, // nearest half to 1/3
	}
	for _, c := range cases {
		if got := toHalf(c.f); got != c.h {
			t.Errorf("toHalf(%v) = %#04x, want %#04x", c.f, got, c.h)
		}
		if got := fromHalf(c.h); math.Float32bits(got) != math.Float32bits(c.f) {
			t.Errorf("fromHalf(%#04x) = %v, want %v", c.h, got, c.f)
		}
	}
	rounding := []struct {
		name string
		f    float64
		h    uint16
	}{
		{"overflow at 65520 (tie to even goes up)", 65520, 0x7c00},
		{"just below 65520", float64(math.Nextafter32(65520, 0)), 0x7bff},
		{"1e6", 1e6, 0x7c00},
		{"2^-25 ties to even zero", math.Ldexp(1, -25), 0x0000},
		{"just above 2^-25", float64(math.Nextafter32(float32(math.Ldexp(1, -25)), 1)), 0x0001},
		{"3·2^-25 ties to even 2·2^-24", 3 * math.Ldexp(1, -25), 0x0002},
		{"5·2^-25 ties to even 2·2^-24", 5 * math.Ldexp(1, -25), 0x0002},
		{"1+2^-11 ties to even 1", 1 + math.Ldexp(1, -11), 0x3c00},
		{"1+3·2^-11 ties to even 1+2^-9", 1 + 3*math.Ldexp(1, -11), 0x3c02},
		{"subnormal carry into smallest normal", math.Ldexp(1, -14) - math.Ldexp(1, -26), 0x0400},
		{"1e-10 underflows", 1e-10, 0x0000},
		{"-1e-10 underflows to -0", -1e-10, 0x8000},
	}
	for _, c := range rounding {
		if got := toHalf(float32(c.f)); got != c.h {
			t.Errorf("%s: toHalf(%v) = %#04x, want %#04x", c.name, float32(c.f), got, c.h)
		}
	}
	for _, nan := range []uint32{0x7fc00000, 0x7f800001, 0xffc00000} {
		h := toHalf(math.Float32frombits(nan))
		if h&0x7c00 != 0x7c00 || h&0x3ff == 0 || h>>15 != uint16(nan>>31) {
			t.Errorf("toHalf(NaN %#08x) = %#04x, not a NaN of the same sign", nan, h)
		}
	}
}

// refFromHalf decodes binary16 from its definition, in float64.
func refFromHalf(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>10&0x1f), float64(h&0x3ff)
	switch e {
	case 0:
		return sign * math.Ldexp(m, -24)
	case 31:
		if m != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * math.Ldexp(1+m/1024, e-15)
}

// refToHalf rounds x to binary16 from the definition: the quantum of x's
// binade (at least 2^-24), round half to even, overflow to Inf.
func refToHalf(x float64) uint16 {
	var sign uint16
	if math.Signbit(x) {
		sign, x = 0x8000, -x
	}
	_, e := math.Frexp(x) // x = f·2^e, f in [0.5, 1)
	q := math.Ldexp(1, max(e-11, -24))
	r := math.RoundToEven(x/q) * q
	if r >= 65536 {
		return sign | 0x7c00
	}
	if r < math.Ldexp(1, -14) {
		return sign | uint16(r/math.Ldexp(1, -24))
	}
	_, e = math.Frexp(r)
	return sign | uint16(e-1+15)<<10 | uint16((r/math.Ldexp(1, e-1)-1)*1024)
}

// TestHalfExhaustive checks every binary16 value both ways, and rounding at
// every midpoint between neighbours and one float32 ulp on either side.
func TestHalfExhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		want := refFromHalf(h)
		got := fromHalf(h)
		if math.IsNaN(want) {
			b := math.Float32bits(got)
			if !math.IsNaN(float64(got)) || b>>13&0x3ff != uint32(h&0x3ff) || b>>31 != uint32(h>>15) {
				t.Fatalf("fromHalf(%#04x) = %#08x, want NaN with the same sign and payload", h, b)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Fatalf("fromHalf(%#04x) = %v, want %v", h, got, want)
		}
		if back := toHalf(got); back != h {
			t.Fatalf("toHalf(fromHalf(%#04x)) = %#04x", h, back)
		}
		if h&0x7fff >= 0x7bff {
			continue // no finite neighbour above
		}
		// Midpoint to the next value of larger magnitude, exact in float32.
		mid := float32((want + refFromHalf(h+1)) / 2)
		for _, x := range []float32{math.Nextafter32(mid, 0), mid, math.Nextafter32(mid, float32(math.Inf(1))*mid)} {
			if got, want := toHalf(x), refToHalf(float64(x)); got != want {
				t.Fatalf("toHalf(%v [%#08x]) = %#04x, want %#04x", x, math.Float32bits(x), got, want)
			}
		}
	}
}

// TestHalfRandom compares toHalf with the reference on random float32 bit
// patterns across the whole range.
func TestHalfRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 1 << 20 {
		x := math.Float32frombits(r.Uint32())
		if math.IsNaN(float64(x)) {
			continue
		}
		if got, want := toHalf(x), refToHalf(float64(x)); got != want {
			t.Fatalf("toHalf(%v [%#08x]) = %#04x, want %#04x", x, math.Float32bits(x), got, want)
		}
	}
}
