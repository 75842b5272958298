package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/wrxlabs/wrx/backend"
)

// u is float32 machine epsilon, 2⁻²³.
const u = 1.0 / (1 << 23)

// oddSizes are the dimensions every MatMulT dimension is drawn from: tiny
// sizes, and sizes just below, at and above the powers of two that SIMD
// widths and cache blocks are built on.
var oddSizes = []int{1, 2, 3, 5, 7, 8, 16, 17, 31, 33, 64, 65, 127, 128, 129}

// bertKN are the (K, N) pairs of BERT-base and BERT-small linear layers:
// attention projections, FFN up and down, and a fused QKV.
var bertKN = [][2]int{
	{384, 384}, {384, 1536}, {1536, 384},
	{768, 768}, {768, 3072}, {3072, 768}, {768, 2304},
}

type mmCase struct {
	m, k, n    int
	accumulate bool
	offA, offW int // start offsets of a and w in their buffers
	offOut     int // ≥ 1, so a guard precedes out
	seed       uint64
}

func (c mmCase) String() string {
	return fmt.Sprintf("MatMulT(m=%d,k=%d,n=%d,accumulate=%v,offsets a+%d w+%d out+%d)",
		c.m, c.k, c.n, c.accumulate, c.offA, c.offW, c.offOut)
}

// smallCases is a deterministic two-thirds sample of oddSizes³, with and
// without accumulate, spread over several start offsets.
func smallCases() []mmCase {
	var cs []mmCase
	offs := []int{0, 1, 2, 3, 4, 5, 7, 8}
	idx := 0
	for i, m := range oddSizes {
		for j, k := range oddSizes {
			for l, n := range oddSizes {
				if (i+j+l)%3 == 2 {
					continue
				}
				idx++
				cs = append(cs, mmCase{
					m: m, k: k, n: n, accumulate: (i+2*j+l)%2 == 0,
					offA: offs[idx%8], offW: offs[(idx/8)%8], offOut: 1 + offs[(idx/3)%8],
					seed: uint64(idx),
				})
			}
		}
	}
	return cs
}

// bertCases are BERT-shaped products for a single token, a short sentence
// and a full 128-token sequence. short mode keeps only the smaller ones.
func bertCases(short bool) []mmCase {
	var cs []mmCase
	ms := []int{1, 13, 128}
	if short {
		ms = []int{1, 13}
	}
	idx := 0
	for _, m := range ms {
		for _, kn := range bertKN {
			idx++
			cs = append(cs, mmCase{
				m: m, k: kn[0], n: kn[1], accumulate: idx%2 == 0,
				offA: idx % 3, offW: (idx + 1) % 3, offOut: 1 + idx%4,
				seed: 1000 + uint64(idx),
			})
		}
	}
	return cs
}

func testMatMulT(t testingT, b backend.Backend, short bool) {
	t.Run("odd-shapes", func(t testingT) { runMatMulCases(t, b, smallCases()) })
	t.Run("bert-shapes", func(t testingT) { runMatMulCases(t, b, bertCases(short)) })
	// The same shapes once more with accumulate flipped, so that every shape
	// is seen both ways and a kernel that ignores the flag cannot pass by
	// luck of the sample.
	t.Run("accumulate-flipped", func(t testingT) {
		cs := smallCases()
		for i := range cs {
			cs[i].accumulate = !cs[i].accumulate
			cs[i].seed += 1 << 20
		}
		runMatMulCases(t, b, cs[:len(cs)/4])
	})
	t.Run("zero-inputs", func(t testingT) {
		// All-zero operands must give exactly zero: catches kernels that read
		// out when accumulate is false (out starts as NaN).
		c := mmCase{m: 9, k: 33, n: 17, offOut: 1}
		_, a := guarded(c.m*c.k, 1, 0)
		_, w := guarded(c.n*c.k, 1, 0)
		clear(a)
		clear(w)
		outBuf, out := guarded(c.m*c.n, 1, 8)
		for i := range out {
			out[i] = float32(math.NaN())
		}
		if !call(t, c.String(), func() { b.MatMulT(out, a, w, c.m, c.k, c.n, false) }) {
			return
		}
		checkClose(t, c.String(), out, make([]float64, len(out)), []float64{0})
		checkGuards(t, c.String(), outBuf, 1, 1+len(out))
	})
}

// maxFailedCases stops a MatMulT subtest after this many failing shapes,
// since a broken kernel usually fails all of them.
const maxFailedCases = 5

func runMatMulCases(t testingT, b backend.Backend, cs []mmCase) {
	t.Helper()
	failed := 0
	for _, c := range cs {
		if !checkMatMul(t, b, c) {
			failed++
			if failed == maxFailedCases {
				t.Errorf("stopping after %d failing shapes", failed)
				return
			}
		}
	}
}

func checkMatMul(t testingT, b backend.Backend, c mmCase) bool {
	t.Helper()
	r := rand.New(rand.NewPCG(c.seed, 0x6d61746d756c74))
	aBuf := make([]float32, c.offA+c.m*c.k)
	wBuf := make([]float32, c.offW+c.n*c.k)
	a := aBuf[c.offA:]
	w := wBuf[c.offW:]
	fillUniform(r, a, 1)
	fillUniform(r, w, 1)
	aOrig := append([]float32(nil), a...)
	wOrig := append([]float32(nil), w...)

	const after = 8
	outBuf, out, init := productOut(r, c.m*c.n, c.offOut, after, c.accumulate)
	// out is passed with extra length: the kernel must use m×n of it only.
	outArg := outBuf[c.offOut : c.offOut+c.m*c.n+after]
	if !call(t, c.String(), func() { b.MatMulT(outArg, a, w, c.m, c.k, c.n, c.accumulate) }) {
		return false
	}
	want, tol := matMulRef(a, w, init, c.m, c.k, c.n)
	ok := checkClose(t, c.String(), out, want, tol)
	ok = checkGuards(t, c.String(), outBuf, c.offOut, c.offOut+c.m*c.n) && ok
	ok = checkUnchanged(t, c.String(), "a", a, aOrig) && ok
	ok = checkUnchanged(t, c.String(), "w", w, wOrig) && ok
	return ok
}

// matMulRef returns out = init + a·wᵀ in float64 (init may be nil) and the
// per-element tolerance documented in the package comment.
func matMulRef(a, w, init []float32, m, k, n int) (want, tol []float64) {
	want = make([]float64, m*n)
	tol = make([]float64, m*n)
	scale := 2 * math.Sqrt(float64(k+1)) * u
	for i := range m {
		ar := a[i*k : (i+1)*k]
		for j := range n {
			wr := w[j*k : (j+1)*k]
			var s, abs float64
			for p, av := range ar {
				x := float64(av) * float64(wr[p])
				s += x
				abs += math.Abs(x)
			}
			if init != nil {
				s += float64(init[i*n+j])
				abs += math.Abs(float64(init[i*n+j]))
			}
			want[i*n+j] = s
			tol[i*n+j] = scale * abs
		}
	}
	return want, tol
}

// scaledMatrix is an encoded backend.Matrix: it hides a dense matrix and a
// per-row scale, and only DecodeRows reveals their product, the way a
// quantized shard does. It records out-of-range decode requests.
type scaledMatrix struct {
	n, k   int
	q      []float32 // n×k
	scale  []float32 // n
	badReq string
}

func (s *scaledMatrix) Dims() (n, k int) { return s.n, s.k }

func (s *scaledMatrix) DecodeRows(dst []float32, r0, r1 int) {
	if r0 < 0 || r1 > s.n || r0 >= r1 || len(dst) < (r1-r0)*s.k {
		if s.badReq == "" {
			s.badReq = fmt.Sprintf("DecodeRows(len(dst)=%d, %d, %d) on a %d×%d matrix", len(dst), r0, r1, s.n, s.k)
		}
		return
	}
	for r := r0; r < r1; r++ {
		d := dst[(r-r0)*s.k : (r-r0+1)*s.k]
		for p, v := range s.q[r*s.k : (r+1)*s.k] {
			d[p] = v * s.scale[r]
		}
	}
}

// testMatMulEncoded checks backend.MatMul with an encoded matrix, which it
// multiplies tile by tile with b.MatMulT, against the float64 reference and
// against the same product through the dense path.
func testMatMulEncoded(t testingT, b backend.Backend) {
	shapes := [][3]int{{1, 7, 1}, {3, 17, 31}, {5, 64, 32}, {7, 33, 33}, {16, 65, 70}, {13, 384, 129}, {128, 64, 96}}
	for i, s := range shapes {
		for _, acc := range []bool{false, true} {
			m, k, n := s[0], s[1], s[2]
			what := fmt.Sprintf("backend.MatMul(encoded %d×%d, m=%d, accumulate=%v)", n, k, m, acc)
			r := rand.New(rand.NewPCG(uint64(i), 0x656e63))
			enc := &scaledMatrix{n: n, k: k, q: make([]float32, n*k), scale: make([]float32, n)}
			fillUniform(r, enc.q, 1)
			for j := range enc.scale {
				enc.scale[j] = float32(math.Ldexp(1+r.Float64(), r.IntN(5)-2))
			}
			dense := make([]float32, n*k)
			enc.DecodeRows(dense, 0, n)
			a := make([]float32, m*k)
			fillUniform(r, a, 1)
			init := make([]float32, m*n)
			fillUniform(r, init, 4)

			outEnc := append([]float32(nil), init...)
			outDense := append([]float32(nil), init...)
			if !acc {
				for j := range outEnc {
					outEnc[j] = float32(math.NaN())
				}
			}
			if !call(t, what, func() { backend.MatMul(b, outEnc, a, m, enc, acc) }) {
				continue
			}
			if enc.badReq != "" {
				t.Errorf("%s: made an invalid request %s", what, enc.badReq)
			}
			if !call(t, what, func() { backend.MatMul(b, outDense, a, m, &backend.Dense{N: n, K: k, Data: dense}, true) }) {
				continue
			}
			var ref []float32
			if acc {
				ref = init
			}
			want, tol := matMulRef(a, dense, ref, m, k, n)
			checkClose(t, what, outEnc, want, tol)
			// The dense path accumulated onto init; compare it with the encoded
			// result only when both computed the same thing.
			if acc {
				diffTol := make([]float64, len(tol))
				for j := range tol {
					diffTol[j] = 2 * tol[j]
				}
				got64 := make([]float64, len(outDense))
				for j, v := range outDense {
					got64[j] = float64(v)
				}
				checkClose(t, what+" vs dense path", outEnc, got64, diffTol)
			}
		}
	}
}

// fillUniform fills x with values uniform in [-scale, scale).
func fillUniform(r *rand.Rand, x []float32, scale float64) {
	for i := range x {
		x[i] = float32((2*r.Float64() - 1) * scale)
	}
}

// testMatMulTStrided checks StridedMultiplier, when b implements it: the
// operands are views of wider matrices (guard values between the rows of
// out must survive), against the float64 reference of the same rows.
func testMatMulTStrided(t testingT, b backend.Backend) {
	sm, ok := b.(backend.StridedMultiplier)
	if !ok {
		return
	}
	for i, c := range [][6]int{{1, 1, 1, 3, 2, 1}, {5, 32, 25, 1152, 1152, 384}, {25, 25, 32, 25, 25, 384}, {7, 17, 9, 20, 31, 12}, {13, 64, 33, 64, 100, 40}} {
		m, k, n, lda, ldw, ldo := c[0], c[1], c[2], c[3], c[4], c[5]
		for _, acc := range []bool{false, true} {
			what := fmt.Sprintf("MatMulTStrided(m=%d,k=%d,n=%d,lda=%d,ldw=%d,ldo=%d,accumulate=%v)", m, k, n, lda, ldw, ldo, acc)
			r := rand.New(rand.NewPCG(uint64(i), 0x737472))
			a := make([]float32, (m-1)*lda+k)
			w := make([]float32, (n-1)*ldw+k)
			fillUniform(r, a, 1)
			fillUniform(r, w, 1)
			outBuf, out := guarded((m-1)*ldo+n, 1, 4)
			ar, wr := rowsOf(a, m, k, lda), rowsOf(w, n, k, ldw)
			var init []float32
			if acc {
				init = make([]float32, m*n)
				fillUniform(r, init, 2)
				for row := range m {
					copy(out[row*ldo:row*ldo+n], init[row*n:(row+1)*n])
				}
			} else {
				for row := range m {
					for j := range n {
						out[row*ldo+j] = float32(math.NaN())
					}
				}
			}
			if !call(t, what, func() { sm.MatMulTStrided(out, ldo, a, lda, w, ldw, m, k, n, acc) }) {
				continue
			}
			want, tol := matMulRef(ar, wr, init, m, k, n)
			checkClose(t, what, rowsOf(out, m, n, ldo), want, tol)
			checkGuards(t, what, outBuf, 1, 1+len(out))
		gaps:
			for row := range m - 1 {
				for j := n; j < ldo; j++ {
					if math.Float32bits(out[row*ldo+j]) != guardBits {
						t.Errorf("%s: wrote %v between rows %d and %d (column %d)", what, out[row*ldo+j], row, row+1, j)
						break gaps
					}
				}
			}
		}
	}
}

// rowsOf copies rows rows of cols values, ld apart, into a dense slice.
func rowsOf(s []float32, rows, cols, ld int) []float32 {
	d := make([]float32, rows*cols)
	for i := range rows {
		copy(d[i*cols:(i+1)*cols], s[i*ld:i*ld+cols])
	}
	return d
}
