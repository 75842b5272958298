package quant

import (
	"fmt"
	"math"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/backend"
)

// naive is the smallest backend.Backend that backend.MatMul needs: a
// textbook MatMulT accumulating in float32 in column order. The other
// kernels are not used by these tests.
type naive struct{}

func (naive) Name() string { return "quant-test-naive" }

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

func (naive) AddBias(x, bias []float32, rows, cols int)                       { panic("unused") }
func (naive) GELU(x []float32)                                                { panic("unused") }
func (naive) Tanh(x []float32)                                                { panic("unused") }
func (naive) ReLU(x []float32)                                                { panic("unused") }
func (naive) Softmax(x []float32, rows, cols int)                             { panic("unused") }
func (naive) LayerNorm(x, gamma, beta []float32, rows, cols int, eps float32) { panic("unused") }

// TestMatMulEqualsDequantizeThenMultiply runs backend.MatMul over an encoded
// Matrix (the generic tiled path, which decodes 32 rows at a time) and over
// the same weights fully decoded into a backend.Dense. With the same
// kernel, both must give bit-identical products, with and without
// accumulation.
func TestMatMulEqualsDequantizeThenMultiply(t *testing.T) {
	var be naive
	for _, s := range [][3]int{{1, 1, 1}, {3, 31, 17}, {2, 32, 8}, {3, 33, 384}, {4, 70, 50}} {
		m, n, k := s[0], s[1], s[2]
		w := gaussianMatrix(n, k, uint64(n*k))
		w[0] = 1 // an outlier
		a := gaussianMatrix(m, k, 99)
		for _, f := range AllFidelities() {
			t.Run(fmt.Sprintf("%dx%dx%d/%v", m, n, k, f), func(t *testing.T) {
				enc := mustRoundTrip(t, w, n, k, f, EncodeOptions{})
				dense := &backend.Dense{N: n, K: k, Data: decodeAll(t, enc)}
				for _, acc := range []bool{false, true} {
					got, want := make([]float32, m*n), make([]float32, m*n)
					for i := range got {
						got[i], want[i] = float32(i), float32(i)
					}
					backend.MatMul(be, got, a, m, enc, acc)
					backend.MatMul(be, want, a, m, dense, acc)
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("accumulate=%v: encoded MatMul differs from dequantize-then-multiply (-want +got):\n%s", acc, diff)
					}
				}
				// And the product is the product of the weights decoded,
				// checked independently in float64.
				out := make([]float32, m*n)
				backend.MatMul(be, out, a, m, enc, false)
				for i := range m {
					for j := range n {
						var ref, mag float64
						for p := range k {
							x := float64(a[i*k+p]) * float64(dense.Data[j*k+p])
							ref += x
							mag += math.Abs(x)
						}
						if d := math.Abs(float64(out[i*n+j]) - ref); d > 1e-5*mag+1e-30 {
							t.Fatalf("out[%d,%d] = %v, float64 reference %v", i, j, out[i*n+j], ref)
						}
					}
				}
			})
		}
	}
}

// TestFP32Dense: an fp32 blob whose payload is 4-byte aligned presents
// itself as a backend.Dense over the blob's own floats (so backend.MatMul
// multiplies it without a tile copy), holding exactly the weights encoded;
// one that is not aligned has no Dense and still decodes them.
func TestFP32Dense(t *testing.T) {
	const n, k = 5, 7
	w := gaussianMatrix(n, k, 3)
	blob := mustEncode(t, w, n, k, FP32)
	for _, off := range []int{0, 1} {
		buf := make([]byte, len(blob)+4)[off:]
		copy(buf, blob)
		buf = buf[:len(blob)]
		m, err := Decode(buf)
		if err != nil {
			t.Fatal(err)
		}
		d := m.Dense()
		if aligned := off == 0 && littleEndian(); (d != nil) != aligned {
			t.Fatalf("offset %d: Dense() = %v, want one only when aligned", off, d)
		}
		if d != nil {
			if d.N != n || d.K != k || !cmp.Equal(d.Data, w) {
				t.Errorf("Dense is %d×%d %v, want %d×%d %v", d.N, d.K, d.Data, n, k, w)
			}
			if &buf[headerSize] != (*byte)(unsafe.Pointer(&d.Data[0])) {
				t.Error("Dense copies the blob's floats instead of viewing them")
			}
		}
		if diff := cmp.Diff(w, decodeAll(t, m)); diff != "" {
			t.Errorf("offset %d: DecodeRows differs from the weights (-want +got):\n%s", off, diff)
		}
	}
}
