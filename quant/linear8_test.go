package quant

import (
	"encoding/binary"
	"math"
	"slices"
)

// encodeDict8 encodes w with the 8-bit dictionary codec, which Encode wrote
// at 8 bits before the int8 codec (see the package comment): Decode still
// reads it, from older stores, so the tests keep checking it.
func encodeDict8(w []float32, n, k int, opts EncodeOptions) ([]byte, error) {
	payload, c, o := encodeDict(w, n, k, 8, opts)
	return seal(header{fid: Bits8, codec: codecDict, n: n, k: k, centroids: c, outliers: o}, payload)
}

// encodeDictAt is Encode with the dictionary codec at every fidelity it
// serves, 8 bits included, and Encode's codecs at 16 and 32 bits.
func encodeDictAt(w []float32, n, k int, f Fidelity, opts EncodeOptions) ([]byte, error) {
	if f == Bits8 {
		return encodeDict8(w, n, k, opts)
	}
	return Encode(w, n, k, f, opts)
}

// encodeLinear8 encodes the n×k matrix w with the per-row linear 8-bit
// codec: each row quantized to uint8 between its own min and max. Decode
// reads that codec but Encode does not write it (see the package comment),
// so only the tests, and TestReport's comparison of the 8-bit codecs, need
// the encoder.
func encodeLinear8(w []float32, n, k int) ([]byte, error) {
	payload := make([]byte, 8*n+n*k)
	le := binary.LittleEndian
	q := payload[8*n:]
	for r := range n {
		row := w[r*k : (r+1)*k]
		var lo, hi float32
		if k > 0 {
			lo, hi = slices.Min(row), slices.Max(row)
		}
		step := (hi - lo) / 255
		le.PutUint32(payload[8*r:], math.Float32bits(lo))
		le.PutUint32(payload[8*r+4:], math.Float32bits(step))
		if step == 0 {
			continue
		}
		for j, v := range row {
			x := math.Round(float64(v-lo) / float64(step))
			q[r*k+j] = byte(min(255, max(0, x)))
		}
	}
	return seal(header{fid: Bits8, codec: codecLinear8, n: n, k: k}, payload)
}
