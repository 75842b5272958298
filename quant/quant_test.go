package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wrxlabs/wrx/backend"
)

func TestParseFidelities(t *testing.T) {
	cases := []struct {
		in      string
		want    []Fidelity
		wantErr bool
	}{
		{"2,3,4,8,16,32", []Fidelity{2, 3, 4, 8, 16, 32}, false},
		{"32, 4,4 ,2", []Fidelity{2, 4, 32}, false},
		{"2,3,4,5,6,8,16,32", AllFidelities(), false},
		{"", nil, true},
		{"7", nil, true},
		{"4,", nil, true},
		{"four", nil, true},
		{"64", nil, true},
	}
	for _, c := range cases {
		got, err := ParseFidelities(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("ParseFidelities(%q) error = %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("ParseFidelities(%q) (-want +got):\n%s", c.in, diff)
		}
	}
	for _, f := range AllFidelities() {
		if g, err := ParseFidelity(f.String()); err != nil || g != f {
			t.Errorf("ParseFidelity(%q) = %v, %v", f.String(), g, err)
		}
	}
}

// decodeAll decodes every row of m.
func decodeAll(t testing.TB, m *Matrix) []float32 {
	t.Helper()
	n, k := m.Dims()
	out := make([]float32, n*k)
	m.DecodeRows(out, 0, n)
	return out
}

func mustRoundTrip(t testing.TB, w []float32, n, k int, f Fidelity, opts EncodeOptions) *Matrix {
	t.Helper()
	blob, err := Encode(w, n, k, f, opts)
	if err != nil {
		t.Fatalf("Encode %d×%d at %v: %v", n, k, f, err)
	}
	m, err := Decode(blob)
	if err != nil {
		t.Fatalf("Decode %d×%d at %v: %v", n, k, f, err)
	}
	h, _ := parseHeader(blob)
	if gn, gk := m.Dims(); gn != n || gk != k || h.fid != f {
		t.Fatalf("decoded %d×%d at %v, want %d×%d at %v", gn, gk, h.fid, n, k, f)
	}
	return m
}

// TestFP32BitExact round-trips arbitrary bit patterns, NaN payloads,
// infinities, subnormals and negative zero included, from a blob that is
// 4-byte aligned in memory and from one that is not.
func TestFP32BitExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n, k = 7, 13
	w := make([]float32, n*k)
	for i := range w {
		w[i] = math.Float32frombits(r.Uint32())
	}
	special := []uint32{0x7fc00001, 0xff800000, 0x7f800000, 0x00000001, 0x80000000, 0x007fffff}
	for i, b := range special {
		w[i] = math.Float32frombits(b)
	}
	bits := func(v []float32) []uint32 {
		out := make([]uint32, len(v))
		for i, x := range v {
			out[i] = math.Float32bits(x)
		}
		return out
	}
	blob, err := Encode(w, n, k, FP32, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unaligned := make([]byte, len(blob)+1)[1:]
	copy(unaligned, blob)
	for name, b := range map[string][]byte{"aligned": blob, "unaligned": unaligned} {
		m, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(bits(w), bits(decodeAll(t, m))); diff != "" {
			t.Errorf("%s blob: fp32 round trip not bit-exact (-want +got):\n%s", name, diff)
		}
	}
}

// TestFP16MatchesConversion checks that the fp16 codec stores exactly the
// IEEE rounding of every weight (checked against the reference rounding in
// fp16_test.go).
func TestFP16MatchesConversion(t *testing.T) {
	const n, k = 5, 11
	w := gaussianMatrix(n, k, 9)
	w[3], w[4] = 70000, 1e-7
	got := decodeAll(t, mustRoundTrip(t, w, n, k, FP16, EncodeOptions{}))
	for i, v := range w {
		want := refFromHalf(refToHalf(float64(v)))
		if float64(got[i]) != want {
			t.Errorf("weight %d: %v decoded as %v, want %v", i, v, got[i], want)
		}
	}
}

// lloydMaxRelErr is the relative RMS error √D of the optimal (Lloyd–Max)
// quantizer of a unit Gaussian with 2^b levels, from Max (1960), "Quantizing
// for minimum distortion", Table I; for 6 and 8 bits, where no table
// applies, the Panter–Dite high-resolution value D = (π√3/2)·4^-b.
var lloydMaxRelErr = map[Fidelity]float64{
	Bits2: math.Sqrt(0.1175),
	Bits3: math.Sqrt(0.03454),
	Bits4: math.Sqrt(0.009497),
	Bits5: math.Sqrt(0.002499),
	Bits6: math.Sqrt(math.Pi * math.Sqrt(3) / 2 / (1 << 12)),
	Bits8: math.Sqrt(math.Pi * math.Sqrt(3) / 2 / (1 << 16)),
}

// TestDictionaryAccuracy encodes Gaussian weights with injected outliers
// with the dictionary codec at 2 to 8 bits (and fp16, fp32): the error must
// fall as bits grow, reach the Lloyd–Max optimum for a Gaussian (within
// 5 %, relative to the inliers), and every outlier must come back exactly.
func TestDictionaryAccuracy(t *testing.T) {
	const n, k = 256, 384
	w := gaussianMatrix(n, k, 5)
	r := rand.New(rand.NewPCG(6, 7))
	injected := map[int]bool{}
	for len(injected) < 40 {
		i := r.IntN(n * k)
		injected[i] = true
		w[i] = float32((0.5 + r.Float64()) * float64(1-2*r.IntN(2)))
	}
	prev := math.Inf(1)
	for _, f := range AllFidelities() {
		blob, err := encodeDictAt(w, n, k, f, EncodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(blob)
		if err != nil {
			t.Fatal(err)
		}
		got := decodeAll(t, m)
		for i := range injected {
			if f != FP16 && math.Float32bits(got[i]) != math.Float32bits(w[i]) {
				t.Errorf("fidelity %v: outlier %d = %v decoded as %v", f, i, w[i], got[i])
			}
		}
		e := RelativeError(w, m)
		if f == FP32 && e != 0 {
			t.Errorf("fp32 error %v, want 0", e)
		}
		if f < FP32 && e >= prev {
			t.Errorf("fidelity %v: error %v is not below the previous fidelity's %v", f, e, prev)
		}
		prev = e
		if bound, ok := lloydMaxRelErr[f]; ok {
			if m.nOut < len(injected) {
				t.Errorf("fidelity %v: %d outliers kept, %d injected", f, m.nOut, len(injected))
			}
			// Relative to the inliers' energy: the outliers are exact.
			var num, den float64
			for i, v := range w {
				if injected[i] {
					continue
				}
				d := float64(v - got[i])
				num += d * d
				den += float64(v) * float64(v)
			}
			inl := math.Sqrt(num / den)
			t.Logf("fidelity %v: inlier relative error %.5f, Lloyd–Max %.5f", f, inl, bound)
			if inl > 1.05*bound {
				t.Errorf("fidelity %v: inlier relative error %.5f above the Lloyd–Max optimum %.5f", f, inl, bound)
			}
		}
	}
}

// TestInt8Codec checks what Encode writes at 8 bits: the int8 codec, in a
// version 2 blob (every other codec stays version 1), holding exactly
// backend.QuantizeInt8's matrix, which Decode hands out as Int8, so every
// weight is within half a step of its row's scale; injected outliers widen
// their rows' steps but stay within theirs.
func TestInt8Codec(t *testing.T) {
	for _, s := range [][2]int{{1, 1}, {3, 17}, {16, 16}, {40, 100}, {256, 384}} {
		n, k := s[0], s[1]
		w := gaussianMatrix(n, k, uint64(n+k))
		w[n*k/2] = 3
		blob := mustEncode(t, w, n, k, Bits8)
		if blob[4] != 2 {
			t.Errorf("%d×%d: int8 blob of version %d, want 2", n, k, blob[4])
		}
		m, err := Decode(blob)
		if err != nil {
			t.Fatal(err)
		}
		want, err := backend.QuantizeInt8(w, n, k)
		if err != nil {
			t.Fatal(err)
		}
		got := m.Int8()
		if got == nil {
			t.Fatalf("%d×%d: Int8() is nil for an int8 blob", n, k)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%d×%d: decoded int8 matrix differs from QuantizeInt8's (-want +got):\n%s", n, k, diff)
		}
		dec := decodeAll(t, m)
		for i, v := range w {
			sc := float64(got.Scale[i/k])
			if d := math.Abs(float64(v - dec[i])); d > sc/2+math.Abs(float64(v))/(1<<23) {
				t.Fatalf("%d×%d weight %d: %v decoded as %v, off by %g > half a step %g", n, k, i, v, dec[i], d, sc/2)
			}
		}
	}
	for _, f := range AllFidelities() {
		if f == Bits8 {
			continue
		}
		blob := mustEncode(t, gaussianMatrix(3, 5, 1), 3, 5, f)
		m, err := Decode(blob)
		if err != nil {
			t.Fatal(err)
		}
		if blob[4] != 1 {
			t.Errorf("fidelity %v: version %d, want 1", f, blob[4])
		}
		if f != Bits5 && f != Bits6 {
			if m.Int8() != nil {
				t.Errorf("fidelity %v: Int8() %v, want no int8 form", f, m.Int8())
			}
			continue
		}
		// 5 and 6 bits: the exact weights, quantized per row.
		want, err := backend.QuantizeInt8(decodeAll(t, m), 3, 5)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, m.Int8(), cmpopts.IgnoreUnexported(backend.Int8{})); diff != "" {
			t.Errorf("fidelity %v: int8 form differs from QuantizeInt8 of the weights (-want +got):\n%s", f, diff)
		}
	}
}

// TestDecodeIntoReuse decodes blobs of every fidelity, of two shapes, one
// after another into one Matrix, and checks each against a fresh Decode:
// the same weights, and the same integer forms, whatever the Matrix held
// before.
func TestDecodeIntoReuse(t *testing.T) {
	var m Matrix
	for _, s := range [][2]int{{40, 100}, {16, 32}, {70, 384}} {
		n, k := s[0], s[1]
		w := gaussianMatrix(n, k, uint64(n+k))
		w[3] = 1 // an outlier
		for _, f := range []Fidelity{Bits6, Bits2, Bits5, Bits8, Bits3, Bits4, FP32, Bits6, FP16, Bits2} {
			blob := mustEncode(t, w, n, k, f)
			fresh, err := Decode(blob)
			if err != nil {
				t.Fatal(err)
			}
			if err := DecodeInto(&m, blob); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(decodeAll(t, fresh), decodeAll(t, &m)); diff != "" {
				t.Errorf("%d×%d at %v: reused Matrix decodes differently (-fresh +reused):\n%s", n, k, f, diff)
			}
			a, b := fresh.Int8(), m.Int8()
			if (a == nil) != (b == nil) || a != nil && !cmp.Equal(a, b, cmpopts.IgnoreUnexported(backend.Int8{})) {
				t.Errorf("%d×%d at %v: reused Matrix has another int8 form", n, k, f)
			}
			c, d := fresh.Int4(), m.Int4()
			if (c == nil) != (d == nil) || c != nil && (!cmp.Equal(c.Codes, d.Codes) || !cmp.Equal(c.Sum, d.Sum) || !cmp.Equal(c.Outliers, d.Outliers)) {
				t.Errorf("%d×%d at %v: reused Matrix has another int4 form", n, k, f)
			}
		}
	}
}

func mustEncode(t *testing.T, w []float32, n, k int, f Fidelity) []byte {
	t.Helper()
	b, err := Encode(w, n, k, f, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLinear8 checks the per-row linear codec against its definition: each
// weight lands within half a step of the row's grid.
func TestLinear8(t *testing.T) {
	const n, k = 9, 50
	w := gaussianMatrix(n, k, 11)
	for j := range k {
		w[4*k+j] = 0.25 // a constant row
	}
	blob, err := encodeLinear8(w, n, k)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(blob)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeAll(t, m)
	for r := range n {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range w[r*k : (r+1)*k] {
			lo, hi = min(lo, float64(v)), max(hi, float64(v))
		}
		tol := (hi-lo)/255/2 + 1e-6
		for j := range k {
			if d := math.Abs(float64(w[r*k+j] - got[r*k+j])); d > tol {
				t.Errorf("row %d col %d: %v decoded as %v, error %g above half a step %g", r, j, w[r*k+j], got[r*k+j], d, tol)
			}
		}
	}
}

// TestShapesAndRowRanges covers odd shapes at every fidelity, and checks that every row range decodes to the same values
// as the full decode.
func TestShapesAndRowRanges(t *testing.T) {
	shapes := [][2]int{{1, 1}, {3, 17}, {5, 13}, {2, 1}, {1, 9}, {4, 7}, {33, 24}, {6, 3}, {0, 5}, {4, 0}}
	for _, s := range shapes {
		n, k := s[0], s[1]
		w := gaussianMatrix(n, k, uint64(n*100+k))
		if n*k > 2 {
			w[n*k/2] = 1.5 // an outlier in the middle
		}
		for _, f := range AllFidelities() {
			m := mustRoundTrip(t, w, n, k, f, EncodeOptions{})
			full := decodeAll(t, m)
			if e := RelativeError(w, m); e > 0.5 {
				t.Errorf("%d×%d at %v: relative error %v", n, k, f, e)
			}
			for r0 := 0; r0 <= n; r0++ {
				for r1 := r0; r1 <= n; r1++ {
					part := make([]float32, (r1-r0)*k+1)
					part[len(part)-1] = 42 // must stay untouched
					m.DecodeRows(part, r0, r1)
					if diff := cmp.Diff(full[r0*k:r1*k], part[:len(part)-1]); diff != "" || part[len(part)-1] != 42 {
						t.Fatalf("%d×%d at %v: rows [%d,%d) differ from the full decode (-full +rows):\n%s", n, k, f, r0, r1, diff)
					}
				}
			}
		}
	}
}

// TestConstantAndTinyMatrices: zero spread means no outliers and an exact
// decode; fewer weights than centroids must still reproduce every weight.
func TestConstantAndTinyMatrices(t *testing.T) {
	c := []float32{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}
	tiny := []float32{-0.3, 0.1, 0.2}
	for _, f := range []Fidelity{Bits2, Bits3, Bits4, Bits5, Bits6, Bits8} {
		for _, in := range []struct {
			w    []float32
			n, k int
			opts EncodeOptions
		}{{c, 2, 3, EncodeOptions{}}, {tiny, 1, 3, EncodeOptions{OutlierSigma: 100}}} {
			blob, err := encodeDictAt(in.w, in.n, in.k, f, in.opts)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(blob)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(in.w, decodeAll(t, m)); diff != "" {
				t.Errorf("%d weights at %v (-want +got):\n%s", len(in.w), f, diff)
			}
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	w := []float32{1, 2, 3, 4}
	cases := []struct {
		name string
		w    []float32
		n, k int
		f    Fidelity
		opts EncodeOptions
	}{
		{"bad fidelity", w, 2, 2, 7, EncodeOptions{}},
		{"length mismatch", w, 3, 2, Bits4, EncodeOptions{}},
		{"negative dims", w, -2, -2, Bits4, EncodeOptions{}},
		{"NaN weight", []float32{1, float32(math.NaN()), 3, 4}, 2, 2, Bits4, EncodeOptions{}},
		{"Inf weight", []float32{1, 2, float32(math.Inf(1)), 4}, 2, 2, Bits8, EncodeOptions{}},
		{"negative sigma", w, 2, 2, Bits4, EncodeOptions{OutlierSigma: -1}},
		{"negative iterations", w, 2, 2, Bits4, EncodeOptions{LloydIterations: -1}},
		{"too many weights", nil, 1 << 20, 1 << 12, FP32, EncodeOptions{}},
	}
	for _, c := range cases {
		if _, err := Encode(c.w, c.n, c.k, c.f, c.opts); err == nil {
			t.Errorf("%s: Encode succeeded", c.name)
		}
	}
}

// TestDecodeRowsPanicsOnBadRange: a wrong range is a programming error and
// must be reported as such, not read out of range.
func TestDecodeRowsPanicsOnBadRange(t *testing.T) {
	m := mustRoundTrip(t, gaussianMatrix(4, 8, 1), 4, 8, Bits4, EncodeOptions{})
	for _, c := range [][3]int{{-1, 2, 32}, {2, 1, 32}, {0, 5, 64}, {0, 4, 31}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("DecodeRows(dst[%d], %d, %d) did not panic", c[2], c[0], c[1])
				}
			}()
			m.DecodeRows(make([]float32, c[2]), c[0], c[1])
		}()
	}
}

// TestDecodeRowsDoesNotAllocate: DecodeRows runs once per tile of every
// multiply, so it must not allocate.
func TestDecodeRowsDoesNotAllocate(t *testing.T) {
	const n, k = 64, 40
	w := gaussianMatrix(n, k, 3)
	w[7] = 1
	dst := make([]float32, 32*k)
	for _, f := range AllFidelities() {
		m := mustRoundTrip(t, w, n, k, f, EncodeOptions{})
		if a := testing.AllocsPerRun(10, func() { m.DecodeRows(dst, 16, 48) }); a != 0 {
			t.Errorf("fidelity %v: DecodeRows allocates %v times per call", f, a)
		}
	}
}
