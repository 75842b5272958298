package bert_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
)

// stTensor is one tensor of a synthetic safetensors file.
type stTensor struct {
	name  string
	dtype string
	shape []int
	data  []byte
}

// stBuild lays tensors out back to back, as the safetensors writers do.
func stBuild(tb testing.TB, tensors []stTensor) []byte {
	tb.Helper()
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var data []byte
	for _, t := range tensors {
		header[t.name] = map[string]any{
			"dtype":        t.dtype,
			"shape":        t.shape,
			"data_offsets": []int{len(data), len(data) + len(t.data)},
		}
		data = append(data, t.data...)
	}
	js, err := json.Marshal(header)
	if err != nil {
		tb.Fatal(err)
	}
	return stRaw(string(js), data)
}

// stRaw assembles a file from a literal header and data section.
func stRaw(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func f32Bytes(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func u16Bytes(v ...uint16) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}

func writeFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// wantErr fails unless err is non-nil and contains every fragment.
func wantErr(tb testing.TB, err error, fragments ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want one containing %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			tb.Errorf("error %q does not contain %q", err, f)
		}
	}
}

// rawTensor is a tensor read straight from the file bytes, independently of
// the package under test.
type rawTensor struct {
	shape []int
	data  []float32
}

// readRawF32 reads every tensor of an all-F32 safetensors file with nothing
// but encoding/json and encoding/binary.
func readRawF32(tb testing.TB, path string) map[string]rawTensor {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		tb.Fatal(err)
	}
	data := b[8+n:]
	out := map[string]rawTensor{}
	for name, raw := range header {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			Dtype       string `json:"dtype"`
			Shape       []int  `json:"shape"`
			DataOffsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			tb.Fatal(err)
		}
		if e.Dtype != "F32" {
			tb.Fatalf("%s: tensor %s is %s; this reader only handles F32", path, name, e.Dtype)
		}
		seg := data[e.DataOffsets[0]:e.DataOffsets[1]]
		v := make([]float32, len(seg)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(seg[4*i:]))
		}
		out[name] = rawTensor{shape: e.Shape, data: v}
	}
	return out
}

// firstBitDiff returns the first index where a and b differ bit for bit, or
// -1 when they are identical. cmp.Diff is too slow for a 47 MB table.
func firstBitDiff(a, b []float32) int {
	for i := range min(len(a), len(b)) {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

var fixtureModels = [][]string{
	{"fixtures", "tiny-bert"},
	{"fixtures", "tiny-distilbert"},
	{"models", "wrx-sst2-small"},
}

func TestOpenSafetensorsMatchesRawFixtures(t *testing.T) {
	for _, elem := range fixtureModels {
		t.Run(elem[1], func(t *testing.T) {
			path := filepath.Join(shared.Path(t, elem...), bert.SafetensorsFile)
			raw := readRawF32(t, path)
			st, err := bert.OpenSafetensors(path)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for n := range raw {
				names = append(names, n)
			}
			sort.Strings(names)
			if diff := cmp.Diff(names, st.Names()); diff != "" {
				t.Fatalf("tensor names (-raw +got):\n%s", diff)
			}
			for _, n := range names {
				info, _ := st.Info(n)
				if diff := cmp.Diff(raw[n].shape, info.Shape); diff != "" {
					t.Errorf("%s shape (-raw +got):\n%s", n, diff)
				}
				got, err := st.Float32(n)
				if err != nil {
					t.Fatal(err)
				}
				if i := firstBitDiff(raw[n].data, got); i >= 0 {
					t.Errorf("%s differs from the raw file at element %d (len %d vs %d)", n, i, len(raw[n].data), len(got))
				}
			}
		})
	}
}

// Bit patterns and values below are from IEEE 754-2008 (binary16) and the
// bfloat16 definition (the upper 16 bits of a binary32).
func TestFloat16ToFloat32KnownValues(t *testing.T) {
	tests := []struct {
		name string
		h    uint16
		want uint32 // float32 bits
	}{
		{"one", 0x3C00, math.Float32bits(1)},
		{"minus two", 0xC000, math.Float32bits(-2)},
		{"max normal 65504", 0x7BFF, math.Float32bits(65504)},
		{"one third rounded", 0x3555, math.Float32bits(0.333251953125)},
		{"smallest subnormal 2^-24", 0x0001, math.Float32bits(float32(math.Ldexp(1, -24)))},
		{"largest subnormal 1023×2^-24", 0x03FF, math.Float32bits(float32(math.Ldexp(1023, -24)))},
		{"negative subnormal -3×2^-24", 0x8003, math.Float32bits(float32(math.Ldexp(-3, -24)))},
		{"smallest normal 2^-14", 0x0400, math.Float32bits(float32(math.Ldexp(1, -14)))},
		{"plus zero", 0x0000, 0x00000000},
		{"minus zero", 0x8000, 0x80000000},
		{"plus infinity", 0x7C00, 0x7F800000},
		{"minus infinity", 0xFC00, 0xFF800000},
		{"quiet NaN", 0x7E00, 0x7FC00000},
		{"signalling NaN keeps payload", 0x7C01, 0x7F802000},
		{"negative NaN", 0xFE00, 0xFFC00000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := math.Float32bits(bert.Float16ToFloat32(tt.h)); got != tt.want {
				t.Errorf("Float16ToFloat32(%#04x) = %#08x (%g), want %#08x (%g)",
					tt.h, got, math.Float32frombits(got), tt.want, math.Float32frombits(tt.want))
			}
		})
	}
}

func TestBFloat16ToFloat32KnownValues(t *testing.T) {
	tests := []struct {
		name string
		h    uint16
		want float64
	}{
		{"one", 0x3F80, 1},
		{"minus two", 0xC000, -2},
		{"max normal", 0x7F7F, math.Ldexp(255, 127-7)},
		{"smallest normal 2^-126", 0x0080, math.Ldexp(1, -126)},
		{"smallest subnormal 2^-133", 0x0001, math.Ldexp(1, -133)},
		{"minus zero", 0x8000, math.Copysign(0, -1)},
		{"plus infinity", 0x7F80, math.Inf(1)},
		{"minus infinity", 0xFF80, math.Inf(-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bert.BFloat16ToFloat32(tt.h)
			if math.Float32bits(got) != math.Float32bits(float32(tt.want)) {
				t.Errorf("BFloat16ToFloat32(%#04x) = %g, want %g", tt.h, got, tt.want)
			}
		})
	}
	if got := math.Float32bits(bert.BFloat16ToFloat32(0x7FC1)); got != 0x7FC10000 {
		t.Errorf("BFloat16ToFloat32(NaN 0x7fc1) bits = %#08x, want 0x7fc10000", got)
	}
}

// TestFloat16ToFloat32AllValues checks every binary16 pattern against the
// value formula of the standard, evaluated in float64.
func TestFloat16ToFloat32AllValues(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		sign := 1.0
		if h&0x8000 != 0 {
			sign = -1
		}
		e, m := int(h>>10&0x1f), float64(h&0x3ff)
		got := bert.Float16ToFloat32(h)
		var want float64
		switch {
		case e == 31 && m == 0:
			want = math.Inf(int(sign))
		case e == 31:
			if !math.IsNaN(float64(got)) || math.Float32bits(got)&0x7fffff != uint32(h&0x3ff)<<13 || math.Signbit(float64(got)) != (sign < 0) {
				t.Fatalf("%#04x: got %#08x, want NaN with sign and payload kept", h, math.Float32bits(got))
			}
			continue
		case e == 0:
			want = sign * math.Ldexp(m, -24)
		default:
			want = sign * math.Ldexp(1+m/1024, e-15)
		}
		if math.Float32bits(got) != math.Float32bits(float32(want)) {
			t.Fatalf("%#04x: got %g (%#08x), want %g", h, got, math.Float32bits(got), want)
		}
	}
}

func TestReadSafetensorsConvertsHalfTypes(t *testing.T) {
	file := stBuild(t, []stTensor{
		{"h", "F16", []int{2, 2}, u16Bytes(0x3C00, 0xC000, 0x7BFF, 0x0001)},
		{"b", "BF16", []int{3}, u16Bytes(0x3F80, 0xC000, 0x7F80)},
		{"f", "F32", []int{2}, f32Bytes(0.5, -7)},
		{"ids", "I64", []int{1}, make([]byte, 8)},
		{"empty", "F32", []int{0, 3}, nil},
	})
	st, err := bert.ReadSafetensors("mem.safetensors", file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		want []float32
	}{
		{"h", []float32{1, -2, 65504, float32(math.Ldexp(1, -24))}},
		{"b", []float32{1, -2, float32(math.Inf(1))}},
		{"f", []float32{0.5, -7}},
		{"empty", []float32{}},
	} {
		got, err := st.Float32(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("tensor %s (-want +got):\n%s", tt.name, diff)
		}
	}
	_, err = st.Float32("ids")
	wantErr(t, err, `"ids"`, "I64", "mem.safetensors")
	_, err = st.Float32("nope")
	wantErr(t, err, `"nope"`, "not found")
}

func TestParseSafetensorsHeaderValid(t *testing.T) {
	// Tensors out of order, a __metadata__ key, and the space padding
	// that writers add to align the data section.
	header := `{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"__metadata__":{"format":"pt"},` +
		`"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}    `
	file := stRaw(header, make([]byte, 8))
	h, err := bert.ParseSafetensorsHeader(file, int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	want := &bert.SafetensorsHeader{
		DataOffset: int64(8 + len(header)),
		Tensors: []bert.TensorInfo{
			{Name: "a", Dtype: bert.BF16, Shape: []int{2}, Begin: 0, End: 4},
			{Name: "b", Dtype: bert.F32, Shape: []int{1}, Begin: 4, End: 8},
		},
		Metadata: map[string]string{"format": "pt"},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
}

func TestParseSafetensorsHeaderErrors(t *testing.T) {
	entry := func(name, dtype, shape string, b, e int) string {
		return fmt.Sprintf(`%q:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, name, dtype, shape, b, e)
	}
	huge := binary.LittleEndian.AppendUint64(nil, 1<<40)
	tests := []struct {
		name      string
		file      []byte
		fragments []string
	}{
		{"shorter than length prefix", []byte{1, 2, 3}, []string{"shorter than the 8-byte header length"}},
		{"header length past end of file", stRaw(`{}`, nil)[:9], []string{"header length 2", "past the end of the 9-byte file"}},
		{"header length absurd", append(huge, '{', '}'), []string{"header length 1099511627776 exceeds"}},
		{"malformed JSON", stRaw(`{"a":`, nil), []string{"malformed"}},
		{"not an object", stRaw(`[1,2]`, nil), []string{"not a JSON object"}},
		{"trailing bytes", stRaw(`{} x`, nil), []string{"unexpected bytes after the JSON object"}},
		{"unknown dtype", stRaw(`{`+entry("w", "F128", "[1]", 0, 16)+`}`, make([]byte, 16)), []string{`tensor "w"`, `unknown dtype "F128"`}},
		{"offsets beyond data", stRaw(`{`+entry("w", "F32", "[4]", 0, 16)+`}`, make([]byte, 8)), []string{`tensor "w"`, "[0,16)", "8-byte data section"}},
		{"reversed offsets", stRaw(`{`+entry("w", "F32", "[0]", 8, 4)+`}`, make([]byte, 8)), []string{`tensor "w"`, "[8,4) is not a valid range"}},
		{"negative offset", stRaw(`{`+entry("w", "F32", "[1]", -4, 0)+`}`, make([]byte, 8)), []string{`tensor "w"`, "[-4,0)"}},
		{"overlapping", stRaw(`{`+entry("a", "F32", "[2]", 0, 8)+`,`+entry("b", "F32", "[2]", 4, 12)+`}`, make([]byte, 12)),
			[]string{`"a" [0,8)`, `"b" [4,12)`, "overlap"}},
		{"shape times dtype differs from bytes", stRaw(`{`+entry("w", "F16", "[2,3]", 0, 8)+`}`, make([]byte, 8)),
			[]string{`tensor "w"`, "shape [2 3] of F16 needs 12 bytes", "span 8"}},
		{"shape overflows", stRaw(`{`+entry("w", "F32", "[4294967296,4294967296]", 0, 8)+`}`, make([]byte, 8)), []string{`tensor "w"`, "overflows"}},
		{"negative dimension", stRaw(`{`+entry("w", "F32", "[-1]", 0, 0)+`}`, nil), []string{`tensor "w"`, "negative dimension"}},
		{"three offsets", stRaw(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, make([]byte, 8)), []string{`tensor "w"`, "3 values"}},
		{"missing field", stRaw(`{"w":{"dtype":"F32","shape":[1]}}`, make([]byte, 4)), []string{`tensor "w"`, "needs dtype, shape and data_offsets"}},
		{"wrong field type", stRaw(`{"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}}`, make([]byte, 4)), []string{`tensor "w"`, "malformed entry"}},
		{"duplicate tensor", stRaw(`{`+entry("w", "F32", "[1]", 0, 4)+`,`+entry("w", "F32", "[1]", 4, 8)+`}`, make([]byte, 8)), []string{`tensor "w" appears twice`}},
		{"bad metadata", stRaw(`{"__metadata__":{"format":1}}`, nil), []string{"__metadata__"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bert.ParseSafetensorsHeader(tt.file, int64(len(tt.file)))
			wantErr(t, err, tt.fragments...)
			if !errors.Is(err, bert.ErrInvalidSafetensors) {
				t.Errorf("error %q does not wrap ErrInvalidSafetensors", err)
			}
		})
	}
}

func TestOpenSafetensorsTruncatedFixture(t *testing.T) {
	src := filepath.Join(shared.Path(t, "fixtures", "tiny-bert"), bert.SafetensorsFile)
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "truncated.safetensors")
	// Cut inside classifier.weight, the last tensor of the file.
	writeFile(t, path, b[:len(b)-100])
	_, err = bert.OpenSafetensors(path)
	wantErr(t, err, path, `tensor "classifier.weight"`, "past the end of the")
	// Cut inside the header itself.
	writeFile(t, path, b[:1000])
	_, err = bert.OpenSafetensors(path)
	wantErr(t, err, path, "header length", "past the end of the 1000-byte file")
}

func TestOpenSafetensorsMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.safetensors")
	_, err := bert.OpenSafetensors(path)
	wantErr(t, err, path)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %q does not wrap os.ErrNotExist", err)
	}
}

func TestOpenSafetensorsIndex(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), stBuild(t, []stTensor{
		{"a", "F32", []int{2}, f32Bytes(1, 2)},
		{"stray", "F32", []int{1}, f32Bytes(9)}, // not in weight_map: ignored
	}))
	writeFile(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), stBuild(t, []stTensor{
		{"b", "F16", []int{1}, u16Bytes(0xC000)},
	}))
	index := filepath.Join(dir, bert.SafetensorsIndexFile)
	writeFile(t, index, []byte(`{"metadata":{"total_size":10},"weight_map":{
		"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}`))

	st, err := bert.OpenSafetensorsIndex(index)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, st.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	b, err := st.Float32("b")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float32{-2}, b); diff != "" {
		t.Errorf("tensor b (-want +got):\n%s", diff)
	}
	// OpenCheckpoint falls back to the index when there is no single file.
	ck, err := bert.OpenCheckpoint(dir)
	if err != nil || len(ck.Names()) != 2 {
		t.Fatalf("OpenCheckpoint(%s) = %v; want the two indexed tensors", dir, err)
	}
}

func TestOpenSafetensorsIndexErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "part1.safetensors"), stBuild(t, []stTensor{{"a", "F32", []int{1}, f32Bytes(1)}}))
	writeFile(t, filepath.Join(dir, "bad.safetensors"), []byte("junk"))
	tests := []struct {
		name      string
		index     string
		fragments []string
	}{
		{"missing shard file", `{"weight_map":{"a":"part1.safetensors","b":"part2.safetensors"}}`, []string{"part2.safetensors", "no such file"}},
		{"tensor not in its file", `{"weight_map":{"a":"part1.safetensors","z":"part1.safetensors"}}`, []string{"part1.safetensors", `tensor "z"`}},
		{"corrupt shard", `{"weight_map":{"a":"bad.safetensors"}}`, []string{"bad.safetensors", "shorter than the 8-byte header"}},
		{"path outside dir", `{"weight_map":{"a":"../part1.safetensors"}}`, []string{`tensor "a"`, "../part1.safetensors", "not a file name beside the index"}},
		{"empty weight map", `{"weight_map":{}}`, []string{"weight_map is missing or empty"}},
		{"malformed JSON", `{"weight_map":`, []string{"malformed JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			index := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".index.json")
			writeFile(t, index, []byte(tt.index))
			_, err := bert.OpenSafetensorsIndex(index)
			wantErr(t, err, append([]string{index}, tt.fragments...)...)
		})
	}
}

func TestOpenCheckpointNoWeights(t *testing.T) {
	dir := t.TempDir()
	_, err := bert.OpenCheckpoint(dir)
	wantErr(t, err, dir, bert.SafetensorsFile, bert.SafetensorsIndexFile)
}

func ExampleOpenSafetensors() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	// A file holding one F16 tensor of shape [2]: 1.0 and -2.0.
	header := `{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`
	file := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	file = append(file, header...)
	file = append(file, 0x00, 0x3C, 0x00, 0xC0)
	path := filepath.Join(dir, "model.safetensors")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		panic(err)
	}

	st, err := bert.OpenSafetensors(path)
	if err != nil {
		panic(err)
	}
	info, _ := st.Info("w")
	w, _ := st.Float32("w")
	fmt.Println(info.Dtype, info.Shape, w)
	// Output: F16 [2] [1 -2]
}
