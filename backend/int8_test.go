package backend

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestQuantizeInt8Bound checks the weight quantization against its stated
// bound, |w − ŵ| ≤ Scale/2 with Scale = max|row|/127, that every value is
// in [−127, 127], that Sum is the sum of the row's integers, and that the
// panel layout round-trips through Row and DecodeRows.
func TestQuantizeInt8Bound(t *testing.T) {
	for _, s := range [][2]int{{1, 1}, {3, 5}, {16, 16}, {17, 33}, {40, 100}, {64, 384}} {
		n, k := s[0], s[1]
		r := rand.New(rand.NewPCG(uint64(n), uint64(k)))
		w := make([]float32, n*k)
		for i := range w {
			w[i] = float32(r.NormFloat64() * math.Ldexp(1, i%7-3))
		}
		if n > 2 {
			clear(w[k : 2*k]) // an all-zero row
		}
		m, err := QuantizeInt8(w, n, k)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Check(); err != nil {
			t.Fatal(err)
		}
		dec := make([]float32, n*k)
		m.DecodeRows(dec, 0, n)
		q := make([]int8, k)
		for j := range n {
			row := w[j*k : (j+1)*k]
			var mx float64
			for _, v := range row {
				mx = math.Max(mx, math.Abs(float64(v)))
			}
			if want := float32(mx / 127); m.Scale[j] != want {
				t.Fatalf("%d×%d row %d: scale %v, want max|w|/127 = %v", n, k, j, m.Scale[j], want)
			}
			m.Row(q, j)
			var sum int32
			for p, v := range row {
				if q[p] < -127 {
					t.Fatalf("row %d col %d: %d outside [-127, 127]", j, p, q[p])
				}
				sum += int32(q[p])
				// Half a step, plus the rounding of Scale·q to float32.
				if d := math.Abs(float64(dec[j*k+p]) - float64(v)); d > float64(m.Scale[j])/2+math.Abs(float64(v))/(1<<23) {
					t.Fatalf("%d×%d [%d,%d]: |w−ŵ| = %g > Scale/2 = %g", n, k, j, p, d, m.Scale[j]/2)
				}
				if dec[j*k+p] != m.Scale[j]*float32(q[p]) {
					t.Fatalf("[%d,%d]: DecodeRows %v, Row gives %v·%d", j, p, dec[j*k+p], m.Scale[j], q[p])
				}
			}
			if m.Sum[j] != sum {
				t.Fatalf("row %d: Sum %d, want %d", j, m.Sum[j], sum)
			}
		}
		np, kp := Int8Dims(n, k)
		for j := n; j < np; j++ {
			if m.Scale[j] != 0 || m.Sum[j] != 0 {
				t.Fatalf("padding row %d has scale %v sum %d", j, m.Scale[j], m.Sum[j])
			}
		}
		// Padding bytes stay zero: kernels rely on it.
		seen := make([]bool, len(m.Q))
		for j := range n {
			for p := range k {
				seen[m.Index(j, p)] = true
			}
		}
		for i, v := range m.Q {
			if !seen[i] && v != 0 {
				t.Fatalf("%d×%d (padded %d×%d): padding byte %d is %d", n, k, np, kp, i, v)
			}
		}
	}
}

func TestQuantizeInt8Errors(t *testing.T) {
	for _, c := range []struct {
		w    []float32
		n, k int
		want string
	}{
		{[]float32{1, float32(math.NaN())}, 1, 2, "row 0: weight 1 is NaN"},
		{[]float32{1, 2, float32(math.Inf(-1))}, 3, 1, "row 2: weight 0 is -Inf"},
		{[]float32{1, 2, 3}, 2, 2, "3 weights for a 2×2 matrix"},
		{nil, 1, MaxInt8K + 1, "out of range"},
	} {
		_, err := QuantizeInt8(c.w, c.n, c.k)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("QuantizeInt8(%v, %d, %d): error %v, want one containing %q", c.w, c.n, c.k, err, c.want)
		}
	}
	m := &Int8{N: 20, K: 17, Q: make([]int8, 10)}
	if err := m.Check(); err == nil || !strings.Contains(err.Error(), "want 1024, 32, 32") {
		t.Errorf("Check of a short Int8: %v", err)
	}
}
