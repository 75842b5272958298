package bert_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
)

// hfFixture is a directory of testdata/hf, written with its PyTorch
// reference logits by scripts/hubfixtures/gen.sh.
func hfFixture(name string) string { return filepath.Join("testdata", "hf", name) }

// checkLogits runs every reference input of dir's reference.jsonl through
// m and compares the logits with PyTorch's.
func checkLogits(t *testing.T, m *bert.Model, dir string) {
	t.Helper()
	be, err := backend.Get("native")
	if err != nil {
		t.Fatal(err)
	}
	refs := shared.References(t, dir)
	worst := 0.0
	for i, r := range refs {
		got, err := m.Forward(context.Background(), be, r.InputIDs, r.TokenTypeIDs)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if len(got) != len(r.Logits) {
			t.Fatalf("line %d: %d logits, want %d", i+1, len(got), len(r.Logits))
		}
		for j := range got {
			worst = math.Max(worst, math.Abs(float64(got[j])-r.Logits[j]))
		}
	}
	t.Logf("%s: %d inputs, max |logit - PyTorch| = %.2e", dir, len(refs), worst)
	if worst > 1e-4 {
		t.Errorf("%s: max |logit - PyTorch| = %.2e, want <= 1e-4", dir, worst)
	}
}

func TestOpenPyTorchTensors(t *testing.T) {
	p, err := bert.OpenPyTorch(filepath.Join(hfFixture("bert-bin"), bert.PyTorchFile))
	if err != nil {
		t.Fatal(err)
	}
	info, ok := p.Info("bert.embeddings.position_ids")
	if !ok || info.Dtype != bert.I64 || !cmp.Equal(info.Shape, []int{1, 128}) {
		t.Errorf("position_ids: %+v, %v; want I64 [1 128]", info, ok)
	}
	if _, err := p.Float32("bert.embeddings.position_ids"); err == nil || !strings.Contains(err.Error(), "dtype I64") {
		t.Errorf("Float32 of an int64 tensor: %v, want an error naming the dtype", err)
	}
	if _, err := p.Float32("nope"); err == nil {
		t.Error("Float32 of a missing tensor: no error")
	}
	info, _ = p.Info("classifier.weight")
	if info.Dtype != bert.F32 || !cmp.Equal(info.Shape, []int{3, 64}) {
		t.Errorf("classifier.weight: %+v, want F32 [3 64]", info)
	}
	// 16 per layer, 6 in the embeddings (position_ids included), 2 each
	// in the pooler and the classifier.
	if n := len(p.Names()); n != 2*16+6+4 {
		t.Errorf("%d tensors, want %d", n, 2*16+6+4)
	}
}

// pklTensor describes one tensor of a hand-made state dict.
type pklTensor struct {
	name, key, class string
	numel, offset    int
	shape, stride    []int
}

// pickleStateDict writes the pickle torch.save makes for a state dict of
// these tensors (protocol 2).
func pickleStateDict(ts []pklTensor) []byte {
	var b bytes.Buffer
	str := func(s string) {
		b.WriteByte('X')
		binary.Write(&b, binary.LittleEndian, uint32(len(s)))
		b.WriteString(s)
	}
	ints := func(v []int) {
		b.WriteByte('(')
		for _, n := range v {
			b.WriteByte('J')
			binary.Write(&b, binary.LittleEndian, int32(n))
		}
		b.WriteByte('t')
	}
	b.WriteString("\x80\x02ccollections\nOrderedDict\n)R(")
	for _, t := range ts {
		str(t.name)
		b.WriteString("ctorch._utils\n_rebuild_tensor_v2\n(")
		b.WriteString("(")
		str("storage")
		b.WriteString("ctorch\n" + t.class + "\n")
		str(t.key)
		str("cpu")
		b.WriteByte('J')
		binary.Write(&b, binary.LittleEndian, int32(t.numel))
		b.WriteString("tQ")
		b.WriteByte('J')
		binary.Write(&b, binary.LittleEndian, int32(t.offset))
		ints(t.shape)
		ints(t.stride)
		b.WriteString("\x89ccollections\nOrderedDict\n)RtR")
	}
	b.WriteString("u.")
	return b.Bytes()
}

// zipCheckpoint writes records under "archive/" as torch.save does.
func zipCheckpoint(t *testing.T, records map[string][]byte) string {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, name := range []string{"data.pkl", "byteorder", "version"} {
		if data, ok := records[name]; ok {
			writeRecord(t, w, "archive/"+name, data)
		}
	}
	for name, data := range records {
		if name != "data.pkl" && name != "byteorder" && name != "version" {
			writeRecord(t, w, "archive/"+name, data)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), bert.PyTorchFile)
	writeFile(t, path, b.Bytes())
	return path
}

func writeRecord(t *testing.T, w *zip.Writer, name string, data []byte) {
	t.Helper()
	f, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
}

// TestPyTorchViews reads tensors that share a storage, at an offset and
// transposed, as tied or sliced weights are saved.
func TestPyTorchViews(t *testing.T) {
	path := zipCheckpoint(t, map[string][]byte{
		"data.pkl": pickleStateDict([]pklTensor{
			{name: "whole", key: "0", class: "FloatStorage", numel: 6, shape: []int{2, 3}, stride: []int{3, 1}},
			{name: "transposed", key: "0", class: "FloatStorage", numel: 6, shape: []int{3, 2}, stride: []int{1, 3}},
			{name: "row1", key: "0", class: "FloatStorage", numel: 6, offset: 3, shape: []int{3}, stride: []int{1}},
			{name: "half", key: "1", class: "HalfStorage", numel: 2, shape: []int{2}, stride: []int{1}},
			{name: "empty", key: "0", class: "FloatStorage", numel: 6, shape: []int{0, 3}, stride: []int{3, 1}},
		}),
		"byteorder": []byte("little"),
		"data/0":    f32Bytes(1, 2, 3, 4, 5, 6),
		"data/1":    u16Bytes(0x3C00, 0xC000),
	})
	p, err := bert.OpenPyTorch(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]float32{
		"whole":      {1, 2, 3, 4, 5, 6},
		"transposed": {1, 4, 2, 5, 3, 6},
		"row1":       {4, 5, 6},
		"half":       {1, -2},
		"empty":      {},
	} {
		got, err := p.Float32(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}
}

func TestPyTorchErrors(t *testing.T) {
	good := []pklTensor{{name: "w", key: "0", class: "FloatStorage", numel: 4, shape: []int{2, 2}, stride: []int{2, 1}}}
	pk := func(ts ...pklTensor) []byte { return pickleStateDict(ts) }
	with := func(f func(*pklTensor)) []byte {
		ts := append([]pklTensor(nil), good...)
		f(&ts[0])
		return pickleStateDict(ts)
	}
	for _, c := range []struct {
		name    string
		records map[string][]byte
		raw     []byte // the whole file instead of records
		want    []string
	}{
		{name: "not a zip", raw: []byte("hello, world"), want: []string{"not a zip archive"}},
		{name: "legacy format", raw: []byte("\x80\x02\x8a\x0alo\x8c\x01"), want: []string{"legacy format"}},
		{name: "no data.pkl", records: map[string][]byte{"data/0": f32Bytes(1)}, want: []string{"no data.pkl"}},
		{name: "torchscript", records: map[string][]byte{"data.pkl": pk(good...), "constants.pkl": {}, "data/0": f32Bytes(1, 2, 3, 4)},
			want: []string{"TorchScript"}},
		{name: "big endian", records: map[string][]byte{"data.pkl": pk(good...), "byteorder": []byte("big"), "data/0": f32Bytes(1, 2, 3, 4)},
			want: []string{`byteorder "big"`}},
		{name: "code in the pickle", records: map[string][]byte{"data.pkl": []byte("\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsR."), "data/0": {}},
			want: []string{"os.system", "refusing"}},
		{name: "truncated pickle", records: map[string][]byte{"data.pkl": pk(good...)[:40], "data/0": f32Bytes(1, 2, 3, 4)},
			want: []string{"data.pkl"}},
		{name: "huge length", records: map[string][]byte{"data.pkl": []byte("\x80\x02\x8e\xff\xff\xff\xff\xff\xff\xff\x7f."), "data/0": {}},
			want: []string{"wants", "bytes"}},
		{name: "short storage", records: map[string][]byte{"data.pkl": pk(good...), "data/0": f32Bytes(1, 2, 3)},
			want: []string{`storage "0" holds 12 bytes, want 4 F32 values`}},
		{name: "missing storage", records: map[string][]byte{"data.pkl": pk(good...)},
			want: []string{`no data/0 record`}},
		{name: "view past the end", records: map[string][]byte{"data.pkl": with(func(p *pklTensor) { p.offset = 1 }), "data/0": f32Bytes(1, 2, 3, 4)},
			want: []string{"runs past the 4 values"}},
		{name: "stride past the end", records: map[string][]byte{"data.pkl": with(func(p *pklTensor) { p.stride = []int{3, 1} }), "data/0": f32Bytes(1, 2, 3, 4)},
			want: []string{"runs past"}},
		{name: "rank mismatch", records: map[string][]byte{"data.pkl": with(func(p *pklTensor) { p.stride = []int{1} }), "data/0": f32Bytes(1, 2, 3, 4)},
			want: []string{"differ in rank"}},
		{name: "unknown storage type", records: map[string][]byte{"data.pkl": with(func(p *pklTensor) { p.class = "QInt8Storage" }), "data/0": f32Bytes(1)},
			want: []string{"torch.QInt8Storage"}},
		{name: "storage used twice differently", records: map[string][]byte{"data.pkl": pk(good[0],
			pklTensor{name: "v", key: "0", class: "HalfStorage", numel: 8, shape: []int{8}, stride: []int{1}}), "data/0": f32Bytes(1, 2, 3, 4)},
			want: []string{`storage "0" is used as 4 F32 and as 8 F16`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var path string
			if c.raw != nil {
				path = filepath.Join(t.TempDir(), bert.PyTorchFile)
				writeFile(t, path, c.raw)
			} else {
				path = zipCheckpoint(t, c.records)
			}
			_, err := bert.OpenPyTorch(path)
			wantErr(t, err, append([]string{path, bert.ErrInvalidPyTorch.Error()}, c.want...)...)
		})
	}
}

// TestLoadPyTorchValidates checks that a .bin checkpoint gets the
// validation a safetensors one gets: a missing or misshapen tensor is
// named.
func TestLoadPyTorchValidates(t *testing.T) {
	src := hfFixture("bert-bin")
	dir := t.TempDir()
	for _, f := range []string{"config.json", "vocab.txt"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, f), data)
	}
	path := zipCheckpoint(t, map[string][]byte{
		"data.pkl": pickleStateDict([]pklTensor{{name: "classifier.weight", key: "0", class: "FloatStorage", numel: 4, shape: []int{2, 2}, stride: []int{2, 1}}}),
		"data/0":   f32Bytes(1, 2, 3, 4),
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, bert.PyTorchFile), data)
	_, err = bert.Load(dir, bert.LoadOptions{})
	wantErr(t, err, "is missing", "more tensor problems")
	if !strings.Contains(err.Error(), fmt.Sprintf("model %s", dir)) {
		t.Errorf("error %q does not name the model directory", err)
	}
}

// FuzzReadPyTorch checks that no input makes the reader panic or hang: a
// malformed checkpoint is an error.
func FuzzReadPyTorch(f *testing.F) {
	data, err := os.ReadFile(filepath.Join(hfFixture("distil-multilabel"), bert.PyTorchFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data[:4096])
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for name, rec := range map[string][]byte{
		"archive/data.pkl": pickleStateDict([]pklTensor{{name: "w", key: "0", class: "FloatStorage", numel: 4, shape: []int{2, 2}, stride: []int{2, 1}}}),
		"archive/data/0":   f32Bytes(1, 2, 3, 4),
	} {
		fw, _ := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		fw.Write(rec)
	}
	w.Close()
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := bert.ReadPyTorch("fuzz", data)
		if err != nil {
			return
		}
		for _, n := range p.Names() {
			p.Float32(n)
		}
	})
}
