package quant

import "math"

// toHalf converts f to IEEE 754 binary16 with round-to-nearest-even.
// Values too large for fp16 become ±Inf, values below half the smallest
// subnormal become ±0, and every NaN becomes a quiet NaN of the same sign
// (payloads are not kept: weights are never NaN in a valid model).
//
// The float32 bits are rounded with integer arithmetic so the result does not
// depend on the host's floating-point rounding mode.
func toHalf(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	u &^= 0x80000000
	switch {
	case u >= 0x7f800000: // Inf or NaN
		if u > 0x7f800000 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case u >= 0x477ff000: // ≥ 65520 rounds past the largest finite half
		return sign | 0x7c00
	case u < 0x38800000: // below 2^-14: fp16 subnormal or zero
		if u < 0x33000000 { // below 2^-25: rounds to zero (2^-25 itself ties to even zero)
			return sign
		}
		e := u >> 23
		m := u&0x7fffff | 0x800000
		// The value is m·2^(e-150); in units of 2^-24 that is m >> (126-e).
		shift := 126 - e
		h := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || rem == half && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	default:
		// Rebias the exponent (127→15) and drop 13 mantissa bits, rounding
		// to nearest even; a carry out of the mantissa correctly bumps the
		// exponent, up to Inf for 65520 ≤ |f| (excluded above).
		h := u - (112 << 23)
		rem := h & 0x1fff
		h >>= 13
		if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	}
}

// fromHalf converts an IEEE 754 binary16 value to float32 exactly.
//
//go:noinline
func fromHalf(h uint16) float32 { return halfToFloat(uint32(h)) }

// halfToFloat converts the binary16 bits in u's low 16 bits to float32,
// exactly and without branching on the class of the value.
//
// Shifting exponent and mantissa into float32 position leaves the exponent
// biased by 15 instead of 127; multiplying by 2^112 rebiases it, exactly,
// and also normalises subnormals (read as float32 subnormals). Inf and NaN
// then only need the exponent field set to all ones; their mantissa (the
// NaN payload) is already in place.
func halfToFloat(u uint32) float32 {
	b := math.Float32bits(math.Float32frombits(u&0x7fff<<13) * 0x1p112)
	if u&0x7c00 == 0x7c00 {
		b |= 0x7f800000
	}
	return math.Float32frombits(b | u&0x8000<<16)
}
