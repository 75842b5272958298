package backendtest

import (
	"math"
	"strings"
	"testing"

	"github.com/wrxlabs/wrx/backend"
)

// naiveInt is naive with integer products written from the interfaces'
// documentation (backend.Int8Multiplier, Int4Multiplier,
// ActivationQuantizer): loops over the rows as quantized, one call or
// quantized once.
type naiveInt struct{ naive }

func (naiveInt) QuantizeActivations(dst *backend.Int8Activations, a []float32, m, k int) {
	_, kp := backend.Int8Dims(0, k)
	if cap(dst.X) < m*kp {
		dst.X = make([]byte, m*kp)
	}
	if cap(dst.Scale) < m || cap(dst.Corr) < m {
		dst.Scale, dst.Corr = make([]float32, m), make([]int32, m)
	}
	dst.M, dst.K, dst.KP, dst.A, dst.Form = m, k, kp, a, backend.ActivationsUnsigned
	dst.X, dst.Scale, dst.Corr = dst.X[:m*kp], dst.Scale[:m], dst.Corr[:m]
	clear(dst.X)
	for i := range m {
		row := a[i*k : (i+1)*k]
		var lo, hi float32
		for _, v := range row {
			lo, hi = min(lo, v), max(hi, v)
		}
		s := (hi - lo) / 255
		if !(s > 0) {
			dst.Scale[i], dst.Corr[i] = 0, 0
			continue
		}
		z := int32(math.RoundToEven(float64(-lo / s)))
		for p, v := range row {
			dst.X[i*kp+p] = byte(max(0, min(255, int32(math.RoundToEven(float64(v/s)))+z)))
		}
		dst.Scale[i], dst.Corr[i] = s, -z
	}
}

// multiply is the product of quantized rows, kp bytes apart, and an Int8.
func (naiveInt) multiply(out []float32, x *backend.Int8Activations, kp int, w *backend.Int8, acc bool) {
	q := make([]int8, w.K)
	for j := range w.N {
		w.Row(q, j)
		for i := range x.M {
			var sum int32
			for p, v := range q {
				sum += (int32(x.X[i*kp+p]) + x.Corr[i]) * int32(v)
			}
			v := float32(sum) * w.Scale[j] * x.Scale[i]
			if acc {
				out[i*w.N+j] += v
			} else {
				out[i*w.N+j] = v
			}
		}
	}
}

func (b naiveInt) MatMulInt8Quantized(out []float32, x *backend.Int8Activations, w *backend.Int8, acc bool) {
	if x.Form != backend.ActivationsUnsigned {
		var own backend.Int8Activations
		b.QuantizeActivations(&own, x.A, x.M, x.K)
		x = &own
	}
	b.multiply(out, x, x.KP, w, acc)
}

func (b naiveInt) MatMulInt4Quantized(out []float32, x *backend.Int8Activations, w *backend.Int4, acc bool) {
	b.MatMulInt8Quantized(out, x, w.AsInt8(), acc)
	w.AddOutliers(out, x.A, x.M)
}

func (b naiveInt) MatMulInt8(out, a []float32, m int, w *backend.Int8, acc bool) {
	var x backend.Int8Activations
	b.QuantizeActivations(&x, a, m, w.K)
	b.MatMulInt8Quantized(out, &x, w, acc)
}

func (b naiveInt) MatMulInt4(out, a []float32, m int, w *backend.Int4, acc bool) {
	var x backend.Int8Activations
	b.QuantizeActivations(&x, a, m, w.K)
	b.MatMulInt4Quantized(out, &x, w, acc)
}

// TestNaiveIntBackendPasses runs the integer products' checks (the float
// ones are naive's) on naiveInt: they admit a plain implementation. The
// short shapes suffice, and naive loops over the longer ones take minutes.
func TestNaiveIntBackendPasses(t *testing.T) {
	for _, only := range []string{"MatMulInt8", "MatMulInt4", "QuantizedOnce", "Int8Concurrent", "Int4Concurrent"} {
		ft := &fakeT{filter: only, rec: &record{}}
		run(ft, naiveInt{}, true)
		for _, f := range ft.rec.fails {
			t.Errorf("%s: %s", f.test, f.msg)
		}
	}
}

// Broken quantized-once products: naiveInt with one plausible mistake.

// cachesBySlice skips quantizing rows it has quantized from the same
// slice, as if equal addresses meant equal values.
type cachesBySlice struct{ naiveInt }

func (b cachesBySlice) QuantizeActivations(dst *backend.Int8Activations, a []float32, m, k int) {
	if dst.Form != backend.ActivationsFloat && dst.M == m && dst.K == k && len(a) > 0 && len(dst.A) > 0 && &dst.A[0] == &a[0] {
		return
	}
	b.naiveInt.QuantizeActivations(dst, a, m, k)
}

// int4QuantizedWithoutOutliers forgets the Int4 outliers when the
// activations come quantized.
type int4QuantizedWithoutOutliers struct{ naiveInt }

func (b int4QuantizedWithoutOutliers) MatMulInt4Quantized(out []float32, x *backend.Int8Activations, w *backend.Int4, acc bool) {
	b.MatMulInt8Quantized(out, x, w.AsInt8(), acc)
}

// quantizedStrideK reads the quantized rows K bytes apart instead of KP.
type quantizedStrideK struct{ naiveInt }

func (b quantizedStrideK) MatMulInt8Quantized(out []float32, x *backend.Int8Activations, w *backend.Int8, acc bool) {
	if x.Form != backend.ActivationsUnsigned {
		b.naiveInt.MatMulInt8Quantized(out, x, w, acc)
		return
	}
	b.multiply(out, x, x.K, w, acc)
}

// readsOtherForm multiplies activations in another form as if they were
// its own.
type readsOtherForm struct{ naiveInt }

func (b readsOtherForm) MatMulInt8Quantized(out []float32, x *backend.Int8Activations, w *backend.Int8, acc bool) {
	if x.Form == backend.ActivationsFloat {
		b.naiveInt.MatMulInt8Quantized(out, x, w, acc)
		return
	}
	b.multiply(out, x, x.KP, w, acc)
}

func TestBrokenQuantizedOnceFails(t *testing.T) {
	for _, tc := range []struct {
		name    string
		b       backend.Backend
		wantMsg string
	}{
		{"quantization cached by slice", cachesBySlice{}, "quantized again"},
		{"Int4 outliers forgotten", int4QuantizedWithoutOutliers{}, "differs from the one-call product"},
		{"rows read with stride K", quantizedStrideK{}, "differs from the one-call product"},
		{"another form read as its own", readsOtherForm{}, "in the other form"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fakeT{filter: "QuantizedOnce", rec: &record{}}
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
