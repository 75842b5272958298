package quant

import "math"

// RelativeError returns ‖w − ŵ‖ / ‖w‖ (Frobenius norms, in float64), where ŵ
// is m decoded. It decodes m a tile of rows at a time. When ‖w‖ is zero it
// returns 0 if ŵ is zero too and +Inf otherwise; when w does not hold N·K
// weights it returns NaN.
func RelativeError(w []float32, m *Matrix) float64 {
	n, k := m.Dims()
	if len(w) != n*k {
		return math.NaN()
	}
	if k == 0 || n == 0 {
		return 0
	}
	tile := max(1, min(n, 4096/k))
	buf := make([]float32, tile*k)
	var num, den float64
	for r0 := 0; r0 < n; r0 += tile {
		r1 := min(n, r0+tile)
		m.DecodeRows(buf, r0, r1)
		for i, v := range w[r0*k : r1*k] {
			d := float64(v) - float64(buf[i])
			num += d * d
			den += float64(v) * float64(v)
		}
	}
	switch {
	case den > 0:
		return math.Sqrt(num / den)
	case num == 0:
		return 0
	}
	return math.Inf(1)
}
