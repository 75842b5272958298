package stats

import (
	"errors"
	"math"
	"testing"
)

// pairs returns a and b of n pairs whose differences a−b are plus +1s,
// minus −1s and zeros for the rest, interleaved so that the order is not
// sorted.
func pairs(n, plus, minus int) (a, b []float64) {
	a, b = make([]float64, n), make([]float64, n)
	for i := range n {
		switch {
		case i%2 == 0 && plus > 0, minus == 0 && plus > 0:
			a[i], b[i] = 1, 0
			plus--
		case minus > 0:
			a[i], b[i] = 0, 1
			minus--
		default:
			a[i], b[i] = 1, 1
		}
	}
	return a, b
}

func TestPairedBootstrapIdenticalVectors(t *testing.T) {
	a := []float64{1, 0, 1, 1, 0, 1, 0, 0, 1, 1}
	iv, err := PairedBootstrap(a, a, BootstrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := Interval{Estimate: 0, Lo: 0, Hi: 0, Level: DefaultLevel, N: 10, Resamples: DefaultResamples}
	if iv != want {
		t.Errorf("identical vectors: %+v, want %+v", iv, want)
	}
}

func TestPairedBootstrapConstantDifference(t *testing.T) {
	// Every pair differs by 0.5: every resample's mean is 0.5.
	a := []float64{1.5, 2.5, 0.5, 3}
	b := []float64{1, 2, 0, 2.5}
	iv, err := PairedBootstrap(a, b, BootstrapOptions{Resamples: 500})
	if err != nil {
		t.Fatal(err)
	}
	if iv.Estimate != 0.5 || iv.Lo != 0.5 || iv.Hi != 0.5 {
		t.Errorf("constant difference 0.5: %+v, want 0.5 in [0.5, 0.5]", iv)
	}
}

// The bootstrap distribution of a mean of n resampled differences is
// known exactly when they are +1, −1 and 0: n·mean is the number of +1s
// drawn minus the number of −1s, multinomial with the observed
// proportions. The nearest-rank 2.5% and 97.5% quantiles of that exact
// distribution were computed by hand-written Python (math.factorial over
// the multinomial), and numpy's percentile (method="inverted_cdf", the
// nearest rank) of 100,000 numpy resamples gives the same bounds:
//
//   - 10 of 20 differences +1, 10 zero: the sum is Binomial(20, 0.5), whose
//     CDF is 0.0207 at 5, 0.0577 at 6, 0.9423 at 13, 0.9793 at 14: [6/20,
//     14/20] = [0.30, 0.70];
//   - 5 of 20 +1, 2 −1, 13 zero: CDF 0.0153 at −3, 0.0384 at −2, 0.9616 at 7,
//     0.9848 at 8: [−2/20, 8/20] = [−0.10, 0.40].
//
// With 100,000 resamples the empirical CDF's standard error near 2.5% is
// 0.0005, so each bound is at least 8 standard errors from moving.
func TestPairedBootstrapAgainstExactDistribution(t *testing.T) {
	for _, c := range []struct {
		plus, minus int
		est, lo, hi float64
		name        string
	}{
		{10, 0, 0.5, 0.30, 0.70, "10 +1, 10 zero"},
		{5, 2, 0.15, -0.10, 0.40, "5 +1, 2 -1, 13 zero"},
	} {
		a, b := pairs(20, c.plus, c.minus)
		for _, seed := range []uint64{1, 2, 3} {
			iv, err := PairedBootstrap(a, b, BootstrapOptions{Resamples: 100000, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			if !near(iv.Estimate, c.est) || !near(iv.Lo, c.lo) || !near(iv.Hi, c.hi) {
				t.Errorf("%s, seed %d: %.4f in [%.4f, %.4f], want %.2f in [%.2f, %.2f]",
					c.name, seed, iv.Estimate, iv.Lo, iv.Hi, c.est, c.lo, c.hi)
			}
		}
	}
}

func near(x, y float64) bool { return math.Abs(x-y) < 1e-12 }

func TestPairedBootstrapIsDeterministicAndOrdered(t *testing.T) {
	a, b := pairs(50, 12, 7)
	opts := BootstrapOptions{Resamples: 2000, Seed: 42}
	x, err := PairedBootstrap(a, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := PairedBootstrap(a, b, opts)
	if x != y {
		t.Errorf("same seed, different intervals: %+v and %+v", x, y)
	}
	if !(x.Lo <= x.Estimate && x.Estimate <= x.Hi) || x.Lo == x.Hi {
		t.Errorf("interval %+v does not surround its estimate 0.1", x)
	}
	// A 50% interval lies inside the 95% one of the same draws.
	z, _ := PairedBootstrap(a, b, BootstrapOptions{Resamples: 2000, Seed: 42, Level: 0.5})
	if z.Lo < x.Lo || z.Hi > x.Hi || z.Level != 0.5 {
		t.Errorf("50%% interval %+v is not inside the 95%% one %+v", z, x)
	}
}

func TestPairedBootstrapErrors(t *testing.T) {
	for _, c := range []struct {
		a, b []float64
		opts BootstrapOptions
	}{
		{nil, nil, BootstrapOptions{}},
		{[]float64{1}, []float64{1, 0}, BootstrapOptions{}},
	} {
		if _, err := PairedBootstrap(c.a, c.b, c.opts); !errors.Is(err, ErrNoPairs) {
			t.Errorf("PairedBootstrap(%v, %v): error %v, want ErrNoPairs", c.a, c.b, err)
		}
	}
	if _, err := PairedBootstrap([]float64{1}, []float64{0}, BootstrapOptions{Level: 1}); err == nil {
		t.Error("level 1: no error")
	}
}
