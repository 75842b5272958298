package backendtest

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/wrxlabs/wrx/backend"
)

// naive is the simplest correct backend: textbook float32 loops, two-pass
// LayerNorm, max-subtracted Softmax. It proves the tolerances admit a
// plain float32 implementation.
type naive struct{}

func (naive) Name() string { return "naive" }

func (naive) MatMulT(out, a, w []float32, m, k, n int, accumulate bool) {
	for i := range m {
		for j := range n {
			var s float32
			for p := range k {
				s += a[i*k+p] * w[j*k+p]
			}
			if accumulate {
				out[i*n+j] += s
			} else {
				out[i*n+j] = s
			}
		}
	}
}

func (naive) AddBias(x, bias []float32, rows, cols int) {
	for i := range rows {
		for j := range cols {
			x[i*cols+j] += bias[j]
		}
	}
}

func (naive) GELU(x []float32) {
	for i, v := range x {
		x[i] = float32(0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2)))
	}
}

func (naive) Tanh(x []float32) {
	for i, v := range x {
		x[i] = float32(math.Tanh(float64(v)))
	}
}

func (naive) ReLU(x []float32) {
	for i, v := range x {
		x[i] = max(0, v)
	}
}

func (naive) Softmax(x []float32, rows, cols int) {
	for i := range rows {
		row := x[i*cols : (i+1)*cols]
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var s float32
		for j, v := range row {
			row[j] = float32(math.Exp(float64(v - m)))
			s += row[j]
		}
		for j := range row {
			row[j] /= s
		}
	}
}

func (naive) LayerNorm(x, gamma, beta []float32, rows, cols int, eps float32) {
	for i := range rows {
		row := x[i*cols : (i+1)*cols]
		var mean float32
		for _, v := range row {
			mean += v
		}
		mean /= float32(cols)
		var variance float32
		for _, v := range row {
			variance += (v - mean) * (v - mean)
		}
		variance /= float32(cols)
		inv := 1 / float32(math.Sqrt(float64(variance+eps)))
		for j, v := range row {
			row[j] = (v-mean)*inv*gamma[j] + beta[j]
		}
	}
}

func TestNaiveBackendPasses(t *testing.T) {
	Run(t, naive{})
}

// Broken backends: naive with one kernel replaced by a plausible mistake.

type geluTanhApprox struct{ naive }

func (geluTanhApprox) GELU(x []float32) {
	for i, v := range x {
		f := float64(v)
		x[i] = float32(0.5 * f * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(f+0.044715*f*f*f))))
	}
}

type alwaysAccumulate struct{ naive }

func (b alwaysAccumulate) MatMulT(out, a, w []float32, m, k, n int, _ bool) {
	b.naive.MatMulT(out, a, w, m, k, n, true)
}

type neverAccumulate struct{ naive }

func (b neverAccumulate) MatMulT(out, a, w []float32, m, k, n int, _ bool) {
	b.naive.MatMulT(out, a, w, m, k, n, false)
}

// zeroesAllOfOut clears len(out) instead of m×n before accumulating.
type zeroesAllOfOut struct{ naive }

func (b zeroesAllOfOut) MatMulT(out, a, w []float32, m, k, n int, accumulate bool) {
	if !accumulate {
		clear(out)
	}
	b.naive.MatMulT(out, a, w, m, k, n, true)
}

// dropsKTail skips the last k%8 products, like a SIMD loop without a tail.
type dropsKTail struct{ naive }

func (dropsKTail) MatMulT(out, a, w []float32, m, k, n int, accumulate bool) {
	kk := k - k%8
	for i := range m {
		for j := range n {
			var s float32
			for p := range kk {
				s += a[i*k+p] * w[j*k+p]
			}
			if accumulate {
				out[i*n+j] += s
			} else {
				out[i*n+j] = s
			}
		}
	}
}

// scratchInA uses a as scratch space and restores nothing.
type scratchInA struct{ naive }

func (b scratchInA) MatMulT(out, a, w []float32, m, k, n int, accumulate bool) {
	b.naive.MatMulT(out, a, w, m, k, n, accumulate)
	if len(a) > 0 {
		a[0] = 0
	}
}

// packedDropsLastPanel is a PackedMultiplier that multiplies only the
// full panels, as a kernel without a partial-panel path would.
type packedDropsLastPanel struct{ naive }

func (packedDropsLastPanel) PacksFloat32() bool { return true }

func (b packedDropsLastPanel) MatMulPacked(out, a []float32, m int, w *backend.Packed, accumulate bool) {
	n, k := w.Dims()
	nf := n / backend.PackedPanel * backend.PackedPanel
	wd := make([]float32, nf*k)
	w.DecodeRows(wd, 0, nf)
	for i := range m {
		for j := range nf {
			var s float32
			for p := range k {
				s += a[i*k+p] * wd[j*k+p]
			}
			if accumulate {
				out[i*n+j] += s
			} else {
				out[i*n+j] = s
			}
		}
	}
}

type onePassLayerNorm struct{ naive }

func (onePassLayerNorm) LayerNorm(x, gamma, beta []float32, rows, cols int, eps float32) {
	for i := range rows {
		row := x[i*cols : (i+1)*cols]
		var s, s2 float32
		for _, v := range row {
			s += v
			s2 += v * v
		}
		mean := s / float32(cols)
		variance := max(0, s2/float32(cols)-mean*mean)
		inv := 1 / float32(math.Sqrt(float64(variance+eps)))
		for j, v := range row {
			row[j] = (v-mean)*inv*gamma[j] + beta[j]
		}
	}
}

type unbiasedLayerNorm struct{ naive }

func (unbiasedLayerNorm) LayerNorm(x, gamma, beta []float32, rows, cols int, eps float32) {
	for i := range rows {
		row := x[i*cols : (i+1)*cols]
		var mean, variance float64
		for _, v := range row {
			mean += float64(v)
		}
		mean /= float64(cols)
		for _, v := range row {
			variance += (float64(v) - mean) * (float64(v) - mean)
		}
		variance /= float64(max(1, cols-1))
		inv := 1 / math.Sqrt(variance+float64(eps))
		for j, v := range row {
			row[j] = float32((float64(v)-mean)*inv*float64(gamma[j]) + float64(beta[j]))
		}
	}
}

type epsOutsideSqrt struct{ naive }

func (epsOutsideSqrt) LayerNorm(x, gamma, beta []float32, rows, cols int, eps float32) {
	for i := range rows {
		row := x[i*cols : (i+1)*cols]
		var mean, variance float64
		for _, v := range row {
			mean += float64(v)
		}
		mean /= float64(cols)
		for _, v := range row {
			variance += (float64(v) - mean) * (float64(v) - mean)
		}
		variance /= float64(cols)
		inv := 1 / (math.Sqrt(variance) + float64(eps))
		for j, v := range row {
			row[j] = float32((float64(v)-mean)*inv*float64(gamma[j]) + float64(beta[j]))
		}
	}
}

type softmaxNoMax struct{ naive }

func (softmaxNoMax) Softmax(x []float32, rows, cols int) {
	for i := range rows {
		row := x[i*cols : (i+1)*cols]
		var s float32
		for j, v := range row {
			row[j] = float32(math.Exp(float64(v)))
			s += row[j]
		}
		for j := range row {
			row[j] /= s
		}
	}
}

type tanhViaExp struct{ naive }

func (tanhViaExp) Tanh(x []float32) {
	for i, v := range x {
		e := float32(math.Exp(float64(2 * v)))
		x[i] = (e - 1) / (e + 1)
	}
}

type reluAbs struct{ naive }

func (reluAbs) ReLU(x []float32) {
	for i, v := range x {
		x[i] = float32(math.Abs(float64(v)))
	}
}

// biasByRow indexes the bias by row instead of column.
type biasByRow struct{ naive }

func (biasByRow) AddBias(x, bias []float32, rows, cols int) {
	for i := range rows {
		for j := range cols {
			x[i*cols+j] += bias[i%cols]
		}
	}
}

// geluPanicsOnEmpty reads x[0] unconditionally.
type geluPanicsOnEmpty struct{ naive }

func (b geluPanicsOnEmpty) GELU(x []float32) {
	_ = x[0]
	b.naive.GELU(x)
}

type unnamed struct{ naive }

func (unnamed) Name() string { return "" }

// fakeT records failures instead of failing, and runs only the subtests on
// the path to filter.
type fakeT struct {
	name   string
	filter string
	rec    *record
	failed bool
}

type record struct {
	mu    sync.Mutex
	fails []failure
}

type failure struct{ test, msg string }

func (f *fakeT) Helper() {}

func (f *fakeT) Errorf(format string, args ...any) {
	f.rec.mu.Lock()
	defer f.rec.mu.Unlock()
	f.failed = true
	f.rec.fails = append(f.rec.fails, failure{f.name, fmt.Sprintf(format, args...)})
}

func (f *fakeT) Failed() bool {
	f.rec.mu.Lock()
	defer f.rec.mu.Unlock()
	return f.failed
}

func (f *fakeT) Run(name string, fn func(testingT)) bool {
	full := name
	if f.name != "" {
		full = f.name + "/" + name
	}
	if f.filter != "" && !strings.HasPrefix(full, f.filter) && !strings.HasPrefix(f.filter, full+"/") {
		return true
	}
	sub := &fakeT{name: full, filter: f.filter, rec: f.rec}
	fn(sub)
	if sub.Failed() {
		f.rec.mu.Lock()
		f.failed = true
		f.rec.mu.Unlock()
	}
	return !sub.Failed()
}

func TestBrokenBackendsFail(t *testing.T) {
	tests := []struct {
		name string
		b    backend.Backend
		// only runs the subtests under this path; failures must occur there
		// and their messages must contain wantMsg.
		only    string
		wantMsg string
	}{
		{"GELU tanh approximation", geluTanhApprox{}, "GELU", "GELU(len"},
		{"MatMulT always accumulates", alwaysAccumulate{}, "MatMulT/odd-shapes", "accumulate=false"},
		{"MatMulT never accumulates", neverAccumulate{}, "MatMulT/odd-shapes", "accumulate=true"},
		{"MatMulT writes past m×n", zeroesAllOfOut{}, "MatMulT/odd-shapes", "outside its output"},
		{"MatMulT drops the K tail", dropsKTail{}, "MatMulT/odd-shapes", "out of tolerance"},
		{"MatMulT writes to a", scratchInA{}, "MatMulT/odd-shapes", "read-only input a"},
		{"MatMulPacked drops a partial panel", packedDropsLastPanel{}, "MatMulPacked", "got NaN"},
		{"LayerNorm one-pass variance", onePassLayerNorm{}, "LayerNorm", "out of tolerance"},
		{"LayerNorm unbiased variance", unbiasedLayerNorm{}, "LayerNorm", "out of tolerance"},
		{"LayerNorm eps outside sqrt", epsOutsideSqrt{}, "LayerNorm", "eps=1e-05"},
		{"Softmax without max subtraction", softmaxNoMax{}, "Softmax", "got NaN"},
		{"Tanh via exp", tanhViaExp{}, "Tanh", "got NaN"},
		{"ReLU as abs", reluAbs{}, "ReLU", "out of tolerance"},
		{"AddBias by row", biasByRow{}, "AddBias", "out of tolerance"},
		{"GELU panics on empty input", geluPanicsOnEmpty{}, "GELU", "panic"},
		{"empty name", unnamed{}, "none", "Name() is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fakeT{filter: tc.only, rec: &record{}}
			run(ft, tc.b, true)
			if !ft.Failed() {
				t.Fatalf("the suite passed a broken backend")
			}
			for _, f := range ft.rec.fails {
				if strings.Contains(f.msg, tc.wantMsg) {
					return
				}
			}
			t.Errorf("no failure message contains %q; got %d failures, first %q in %s",
				tc.wantMsg, len(ft.rec.fails), ft.rec.fails[0].msg, ft.rec.fails[0].test)
		})
	}
}

// The fake must not hide failures of a correct backend either: the naive
// backend run through it records none.
func TestFakeRecordsNothingForNaive(t *testing.T) {
	ft := &fakeT{filter: "LayerNorm", rec: &record{}}
	run(ft, naive{}, true)
	for _, f := range ft.rec.fails {
		t.Errorf("%s: %s", f.test, f.msg)
	}
}

func TestCheckCloseRejectsNaN(t *testing.T) {
	ft := &fakeT{rec: &record{}}
	ok := checkClose(ft, "x", []float32{float32(math.NaN())}, []float64{1}, []float64{math.Inf(1)})
	if ok || !ft.Failed() {
		t.Errorf("checkClose accepted NaN against an infinite tolerance")
	}
}
