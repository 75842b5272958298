package bert_test

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/wrxlabs/wrx/model/bert"
)

// FuzzSafetensorsHeader feeds whole files to the header parser. Whatever
// the input, parsing must not panic, and an accepted header must describe
// tensors that lie inside the file's data section, do not overlap, and hold
// exactly shape × dtype-size bytes, which then convert without trouble.
func FuzzSafetensorsHeader(f *testing.F) {
	f.Add(stRaw(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(stRaw(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[1,2],"data_offsets":[4,8]},`+
		`"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}  `, make([]byte, 8)))
	f.Add(stRaw(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(stRaw(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`, make([]byte, 6)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'})
	f.Fuzz(func(t *testing.T, file []byte) {
		h, err := bert.ParseSafetensorsHeader(file, int64(len(file)))
		if err != nil {
			return
		}
		size := int64(len(file))
		if h.DataOffset != 8+int64(binary.LittleEndian.Uint64(file)) || h.DataOffset > size {
			t.Fatalf("data offset %d for a %d-byte file", h.DataOffset, size)
		}
		var prevEnd int64
		for i, ti := range h.Tensors {
			begin, end := h.DataOffset+ti.Begin, h.DataOffset+ti.End
			if ti.Begin < 0 || begin > end || end > size {
				t.Fatalf("tensor %q at file bytes [%d,%d) outside the %d-byte file", ti.Name, begin, end, size)
			}
			if int64(ti.Elements())*int64(ti.Dtype.Size()) != ti.End-ti.Begin {
				t.Fatalf("tensor %q: shape %v of %s does not fill [%d,%d)", ti.Name, ti.Shape, ti.Dtype, ti.Begin, ti.End)
			}
			if i > 0 && ti.Begin < h.Tensors[i-1].Begin {
				t.Fatalf("tensors not sorted by offset")
			}
			if ti.Begin == ti.End {
				continue
			}
			if ti.Begin < prevEnd {
				t.Fatalf("tensor %q [%d,%d) overlaps one ending at %d", ti.Name, ti.Begin, ti.End, prevEnd)
			}
			prevEnd = ti.End
		}
		st, err := bert.ReadSafetensors("fuzz", file)
		if err != nil {
			t.Fatalf("header parsed but ReadSafetensors failed: %v", err)
		}
		for _, ti := range h.Tensors {
			v, err := st.Float32(ti.Name)
			switch ti.Dtype {
			case bert.F32, bert.F16, bert.BF16:
				if err != nil || len(v) != ti.Elements() {
					t.Fatalf("tensor %q: %d values, err %v; want %d", ti.Name, len(v), err, ti.Elements())
				}
			default:
				if err == nil {
					t.Fatalf("tensor %q of %s converted to float32", ti.Name, ti.Dtype)
				}
			}
		}
	})
}

// FuzzSafetensorsIndex feeds arbitrary bytes to OpenSafetensorsIndex as a
// model.safetensors.index.json beside two real shard files. Whatever the
// input it must not panic or reach outside the directory; an accepted
// index must map every tensor it names to one the files hold, which then
// converts to float32 (all of them are F32 or F16).
func FuzzSafetensorsIndex(f *testing.F) {
	dir := f.TempDir()
	shards := map[string][]byte{
		"a.safetensors": stRaw(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]}}`, make([]byte, 12)),
		"b.safetensors": stRaw(`{"v":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}`, make([]byte, 4)),
	}
	for name, b := range shards {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	for _, s := range []string{
		`{"weight_map":{"w":"a.safetensors","b":"a.safetensors","v":"b.safetensors"}}`,
		`{"metadata":{"total_size":16},"weight_map":{"w":"a.safetensors"}}`,
		`{"weight_map":{"w":"b.safetensors"}}`,
		`{"weight_map":{"w":"../a.safetensors"}}`,
		`{"weight_map":{"w":"missing.safetensors"}}`,
		`{"weight_map":{}}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	index := filepath.Join(dir, bert.SafetensorsIndexFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(index, data, 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := bert.OpenSafetensorsIndex(index)
		if err != nil {
			return
		}
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(data, &idx); err != nil {
			t.Fatalf("index %q accepted but is not JSON: %v", data, err)
		}
		for name := range idx.WeightMap {
			if _, ok := st.Info(name); !ok {
				t.Fatalf("index %q accepted without tensor %q", data, name)
			}
			if _, err := st.Float32(name); err != nil {
				t.Fatalf("index %q: tensor %q: %v", data, name, err)
			}
		}
	})
}
