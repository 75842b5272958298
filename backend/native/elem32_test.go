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

// Every kernel set's vector GELU and softmax against float64 math, over a
// dense grid including the tails of every vector width.
func TestElemOpsAccuracy(t *testing.T) {
	sets := map[string]elemOps{"go32": goElemOps}
	for _, ks := range simdKernelSets() {
		sets[ks.name] = ks.elem
	}
	const n = 200_003 // odd, so every kernel runs its tail code
	for name, ops := range sets {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(-12 + 24*float64(i)/n)
		}
		ops.gelu(x)
		worst := 0.0
		for i, g := range x {
			v := float64(float32(-12 + 24*float64(i)/n))
			want := v / 2 * (1 + math.Erf(v/math.Sqrt2))
			worst = max(worst, math.Abs(float64(g)-want)/(1+math.Abs(want)))
		}
		if worst > 1e-6 {
			t.Errorf("%s: GELU worst error %.3g relative to 1+|gelu|", name, worst)
		}
		for _, cols := range []int{1, 5, 8, 13, 16, 31, 128, 1000} {
			row := make([]float32, cols)
			for i := range row {
				row[i] = float32(math.Sin(float64(i))*30 - float64(i%3)*20)
			}
			ref := make([]float64, cols)
			mx := math.Inf(-1)
			for _, v := range row {
				mx = max(mx, float64(v))
			}
			sum := 0.0
			for i, v := range row {
				ref[i] = math.Exp(float64(v) - mx)
				sum += ref[i]
			}
			ops.softmaxRow(row)
			for i := range row {
				if d := math.Abs(float64(row[i]) - ref[i]/sum); d > 1e-6*(1+ref[i]/sum) {
					t.Fatalf("%s: softmax cols=%d [%d] = %g, want %g", name, cols, i, row[i], ref[i]/sum)
				}
			}
		}
	}
}
