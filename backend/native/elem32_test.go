package native

import (
	"math"
	"testing"
)

// The scalar float32 formulas against float64 math, over a dense grid.
func TestElem32Accuracy(t *testing.T) {
	var worstExp, worstGelu float64
	for i := 0; i <= 2_000_000; i++ {
		x := float32(-12 + 24*float64(i)/2e6)
		want := float64(x) / 2 * (1 + math.Erf(float64(x)/math.Sqrt2))
		if d := math.Abs(float64(gelu32(x))-want) / (1 + math.Abs(want)); d > worstGelu {
			worstGelu = d
		}
		w := float32(-90 * float64(i) / 2e6)
		wantE := math.Exp(float64(w))
		if wantE < 1.2e-38 {
			continue
		}
		if d := math.Abs(float64(expNeg32(w))-wantE) / wantE; d > worstExp {
			worstExp = d
		}
	}
	if worstGelu > 1e-6 || worstExp > 1e-6 {
		t.Errorf("worst error: GELU %.3g (relative to 1+|gelu|), exp %.3g (relative)", worstGelu, worstExp)
	}
	t.Logf("worst error: GELU %.3g, exp %.3g", worstGelu, worstExp)
	for _, x := range []float32{float32(math.Inf(1)), 1e30, 1e4} {
		if g := gelu32(x); g != x {
			t.Errorf("gelu32(%g) = %g", x, g)
		}
		if g := gelu32(-x); g != 0 {
			t.Errorf("gelu32(%g) = %g", -x, g)
		}
	}
	if e := expNeg32(float32(math.Inf(-1))); e != 0 {
		t.Errorf("expNeg32(-Inf) = %g", e)
	}
}
