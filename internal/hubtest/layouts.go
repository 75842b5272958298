package hubtest

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
)

// Testdata returns the path of a checkpoint in model/bert/testdata/hf,
// written by scripts/hubfixtures/gen.sh.
func Testdata(elem ...string) string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "model", "bert", "testdata", "hf")
	return filepath.Join(append([]string{root}, elem...)...)
}

// ReadDir returns the regular files at the top of dir, as a repository's
// files.
func ReadDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = data
	}
	return files
}

// Sharded returns files with model.safetensors split into n shards and a
// model.safetensors.index.json, as save_pretrained writes a large model.
func Sharded(t testing.TB, files map[string][]byte, n int) map[string][]byte {
	t.Helper()
	st := files["model.safetensors"]
	if len(st) < 8 {
		t.Fatal("hubtest: no model.safetensors to shard")
	}
	hlen := binary.LittleEndian.Uint64(st)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(st[8:8+hlen], &header); err != nil {
		t.Fatal(err)
	}
	data := st[8+hlen:]
	type entry struct {
		Dtype       string  `json:"dtype"`
		Shape       []int64 `json:"shape"`
		DataOffsets []int64 `json:"data_offsets"`
	}
	var names []string
	for name := range header {
		if name != "__metadata__" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := map[string][]byte{}
	for k, v := range files {
		if k != "model.safetensors" {
			out[k] = v
		}
	}
	weightMap := map[string]string{}
	per := (len(names) + n - 1) / n
	for i := 0; i < n; i++ {
		file := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
		hdr := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
		var body []byte
		for _, name := range names[min(i*per, len(names)):min((i+1)*per, len(names))] {
			var e entry
			if err := json.Unmarshal(header[name], &e); err != nil {
				t.Fatal(err)
			}
			b := data[e.DataOffsets[0]:e.DataOffsets[1]]
			hdr[name] = entry{Dtype: e.Dtype, Shape: e.Shape, DataOffsets: []int64{int64(len(body)), int64(len(body) + len(b))}}
			body = append(body, b...)
			weightMap[name] = file
		}
		js, err := json.Marshal(hdr)
		if err != nil {
			t.Fatal(err)
		}
		for len(js)%8 != 0 {
			js = append(js, ' ')
		}
		shard := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
		shard = append(append(shard, js...), body...)
		out[file] = shard
	}
	index, err := json.Marshal(map[string]any{"metadata": map[string]int{"total_size": len(data)}, "weight_map": weightMap})
	if err != nil {
		t.Fatal(err)
	}
	out["model.safetensors.index.json"] = index
	return out
}

// TokenizerJSONOnly returns files with vocab.txt replaced by tokenizer.json.
func TokenizerJSONOnly(t testing.TB, files map[string][]byte, tokenizerJSON string) map[string][]byte {
	t.Helper()
	tj, err := os.ReadFile(tokenizerJSON)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for k, v := range files {
		if k != "vocab.txt" {
			out[k] = v
		}
	}
	out["tokenizer.json"] = tj
	return out
}
