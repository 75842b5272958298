package quant

import (
	"encoding/binary"
	"math"
	"slices"
)

// encodeLinear8 encodes the n×k matrix w with the per-row linear 8-bit
// codec: each row quantized to uint8 between its own min and max. Decode
// reads that codec but Encode does not write it (the dictionary measured
// better at 8 bits: see the package comment), so only the tests, and
// TestReport's comparison of the two 8-bit codecs, need the encoder.
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
