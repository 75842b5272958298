// Package backendtest is the conformance suite every backend.Backend runs,
// in the spirit of testing/fstest:
//
//	func TestConformance(t *testing.T) { backendtest.Run(t, mybackend.New()) }
//	func BenchmarkMatMulT(b *testing.B) { backendtest.Bench(b, mybackend.New()) }
//
// Every kernel is compared with a float64 reference computed inside the
// suite, on seeded pseudo-random inputs, so a run is deterministic and no
// expected value comes from the code under test.
//
// # Tolerances
//
// Let u = 2⁻²³ (float32 machine epsilon). A result passes when
// |got−want| ≤ tol, where want is the float64 reference and:
//
//   - elementwise kernels (AddBias, GELU, Tanh, ReLU) and Softmax:
//     tol = 1e-5·(1+|want|);
//   - MatMulT, for out[i,j] = c + Σₚ a[i,p]·w[j,p] over K terms (c = 0
//     without accumulate): tol = 2·√(K+1)·u·(|c| + Σₚ|a[i,p]·w[j,p]|).
//     The classical worst-case bound is K·u·Σ|aw| (Higham's γ_K); rounding
//     errors of a float32 dot product behave like a random walk, so √K is
//     the realistic growth (Higham & Mary, 2019), and the bound is still
//     loose enough for any summation order, blocking or FMA use;
//   - MatMul of a backend.Int8 matrix: for a backend.Int8Multiplier, the
//     bound its activation quantization gives (see int8.go); otherwise
//     the MatMulT tolerance with the dequantized weights;
//   - MatMul of a backend.Int4 matrix: for a backend.Int4Multiplier, bit
//     for bit the same backend's product of the equivalent Int8 matrix
//     plus the outliers, and the Int8 bound plus the centroids' grid
//     rounding against the exact weights (see int4.go); otherwise the
//     MatMulT tolerance;
//   - products of activations quantized once (backend.Int8Activations,
//     MatMulInt8Quantized, MatMulInt4Quantized): bit for bit the same
//     backend's MatMulInt8 and MatMulInt4 of the same rows (see
//     activations.go);
//   - MatMul of a backend.Packed matrix (MatMulPacked for a
//     backend.PackedMultiplier, decoded tiles otherwise): the MatMulT
//     tolerance, on shapes with partial panels and odd K (see packed.go);
//   - LayerNorm: tol = 1e-5·(1+|want|) + 4·√C·u·(mean|x|/σ)·|γⱼ| for a
//     row of C values with σ = √(var+eps). The second term is the error a
//     float32 row mean can carry, amplified by 1/σ: a two-pass float32
//     implementation passes rows centred at 1e3, a one-pass E[x²]−E[x]²
//     does not.
//
// NaN never passes. Besides values, the suite checks that kernels write
// nothing outside their output (guard values on both sides), do not modify
// their read-only inputs, make no alignment assumptions (slices start at
// odd offsets of larger buffers), overwrite rather than read out when
// accumulate is false (out is pre-filled with NaN), and are safe for
// concurrent use.
package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"testing"

	"github.com/wrxlabs/wrx/backend"
)

// testingT is the part of *testing.T the suite uses. It exists so the
// suite's own tests can run it against broken backends and observe the
// failures without failing themselves.
type testingT interface {
	Helper()
	Errorf(format string, args ...any)
	Failed() bool
	Run(name string, f func(t testingT)) bool
}

// stdT adapts *testing.T to testingT.
type stdT struct{ *testing.T }

func (s stdT) Run(name string, f func(t testingT)) bool {
	return s.T.Run(name, func(t *testing.T) { f(stdT{t}) })
}

// Run checks every kernel of b against the float64 reference, each kernel in
// its own subtest. It takes a few seconds for an unoptimised pure-Go
// backend; in -short mode the largest BERT-shaped products are skipped.
func Run(t *testing.T, b backend.Backend) {
	t.Helper()
	run(stdT{t}, b, testing.Short())
}

func run(t testingT, b backend.Backend, short bool) {
	t.Helper()
	if b == nil {
		t.Errorf("backendtest: nil backend")
		return
	}
	if b.Name() == "" {
		t.Errorf("Name() is empty; backends are registered under a non-empty name")
	}
	t.Run("MatMulT", func(t testingT) { testMatMulT(t, b, short) })
	t.Run("MatMulEncoded", func(t testingT) { testMatMulEncoded(t, b) })
	t.Run("MatMulTStrided", func(t testingT) { testMatMulTStrided(t, b) })
	t.Run("MatMulInt8", func(t testingT) { testMatMulInt8(t, b, short) })
	t.Run("MatMulInt4", func(t testingT) { testMatMulInt4(t, b, short) })
	t.Run("QuantizedOnce", func(t testingT) { testQuantizedOnce(t, b, short) })
	t.Run("MatMulPacked", func(t testingT) { testMatMulPacked(t, b, short) })
	t.Run("AddBias", func(t testingT) { testAddBias(t, b) })
	t.Run("GELU", func(t testingT) { testUnary(t, b, "GELU", b.GELU, geluRef, geluInputs) })
	t.Run("Tanh", func(t testingT) { testUnary(t, b, "Tanh", b.Tanh, tanhRef, tanhInputs) })
	t.Run("ReLU", func(t testingT) { testUnary(t, b, "ReLU", b.ReLU, reluRef, reluInputs) })
	t.Run("Softmax", func(t testingT) { testSoftmax(t, b) })
	t.Run("LayerNorm", func(t testingT) { testLayerNorm(t, b) })
	t.Run("Concurrent", func(t testingT) { testConcurrent(t, b) })
	t.Run("Int8Concurrent", func(t testingT) { testInt8Concurrent(t, b) })
	t.Run("Int4Concurrent", func(t testingT) { testInt4Concurrent(t, b) })
	t.Run("PackedConcurrent", func(t testingT) { testPackedConcurrent(t, b) })
}

// call runs one kernel invocation and turns a panic into a test error that
// names the case, so one bad shape does not hide the results of the others.
func call(t testingT, what string, f func()) (ok bool) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: panic: %v\n%s", what, r, debug.Stack())
			ok = false
		}
	}()
	f()
	return true
}

// maxReported bounds how many mismatching elements one check prints.
const maxReported = 4

// checkClose compares got with want elementwise under per-element
// tolerances tol (a single-element tol applies to all) and reports the
// first few mismatches. NaN in got never passes.
func checkClose(t testingT, what string, got []float32, want, tol []float64) bool {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: internal error: %d results for %d references", what, len(got), len(want))
		return false
	}
	bad := 0
	var msgs []string
	for i, g := range got {
		tl := tol[0]
		if len(tol) > 1 {
			tl = tol[i]
		}
		d := float64(g) - want[i]
		if d < 0 {
			d = -d
		}
		if d <= tl { // written so that NaN fails
			continue
		}
		bad++
		if len(msgs) < maxReported {
			msgs = append(msgs, fmt.Sprintf("[%d] got %v want %.9g (|diff| %.3g > tol %.3g)", i, g, want[i], d, tl))
		}
	}
	if bad == 0 {
		return true
	}
	t.Errorf("%s: %d of %d elements out of tolerance:\n\t%s", what, bad, len(got), joinLines(msgs))
	return false
}

func joinLines(s []string) string {
	out := ""
	for i, m := range s {
		if i > 0 {
			out += "\n\t"
		}
		out += m
	}
	return out
}

// guardBits is the bit pattern (a NaN with a recognisable payload) of the
// elements placed around every output; kernels must leave them alone.
const guardBits = 0x7fc0dead

// guarded returns a buffer holding n usable elements starting at offset
// off ≥ 1, with guard values before and after, and the usable slice. The
// slice has capacity up to the end of the buffer, so a kernel that reslices
// beyond its length writes into the trailing guards and is caught.
func guarded(n, off, after int) (buf, s []float32) {
	buf = make([]float32, off+n+after)
	g := math.Float32frombits(guardBits)
	for i := range buf {
		buf[i] = g
	}
	return buf, buf[off : off+n]
}

// productOut is guarded's buffer for a product's n outputs at off: with
// accumulate, out holds random values, returned as init for the
// reference to add to; without, NaN, which a product that reads out
// instead of overwriting it carries into its result.
func productOut(r *rand.Rand, n, off, after int, accumulate bool) (buf, out, init []float32) {
	buf, out = guarded(n, off, after)
	if accumulate {
		fillUniform(r, out, 4)
		return buf, out, append([]float32(nil), out...)
	}
	for i := range out {
		out[i] = float32(math.NaN())
	}
	return buf, out, nil
}

// checkGuards reports elements of buf outside [lo, hi) that changed.
func checkGuards(t testingT, what string, buf []float32, lo, hi int) bool {
	t.Helper()
	for i, v := range buf {
		if i >= lo && i < hi {
			continue
		}
		if math.Float32bits(v) != guardBits {
			t.Errorf("%s: wrote %v at position %d outside its output [%d,%d) of the buffer", what, v, i-lo, 0, hi-lo)
			return false
		}
	}
	return true
}

// checkUnchanged reports whether a read-only input was modified.
func checkUnchanged(t testingT, what, name string, got, orig []float32) bool {
	t.Helper()
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(orig[i]) {
			t.Errorf("%s: modified its read-only input %s at [%d]: %v, was %v", what, name, i, got[i], orig[i])
			return false
		}
	}
	return true
}

// lockedT serialises Errorf for testingT implementations that are not safe
// for concurrent use (*testing.T is; the suite's fakes need not be).
type lockedT struct {
	testingT
	mu *sync.Mutex
}

func (l lockedT) Errorf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.testingT.Errorf(format, args...)
}
