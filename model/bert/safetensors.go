package bert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File names of a Hugging Face checkpoint.
const (
	SafetensorsFile      = "model.safetensors"
	SafetensorsIndexFile = "model.safetensors.index.json"
)

// MaxSafetensorsHeader bounds the JSON header of a safetensors file. It is
// the limit the reference Rust implementation uses; anything larger is taken
// as a corrupt length prefix rather than a reason to allocate.
const MaxSafetensorsHeader = 100_000_000

// ErrInvalidSafetensors is wrapped by every error that reports a malformed
// safetensors file or index, as opposed to an I/O failure.
var ErrInvalidSafetensors = errors.New("invalid safetensors")

// Dtype is a safetensors element type, spelled as in the file header.
type Dtype string

// The element types of the safetensors format. All of them are accepted in
// a header (checkpoints carry e.g. I64 position ids); only F32, F16 and BF16
// convert to float32.
const (
	F64    Dtype = "F64"
	F32    Dtype = "F32"
	F16    Dtype = "F16"
	BF16   Dtype = "BF16"
	I64    Dtype = "I64"
	I32    Dtype = "I32"
	I16    Dtype = "I16"
	I8     Dtype = "I8"
	U64    Dtype = "U64"
	U32    Dtype = "U32"
	U16    Dtype = "U16"
	U8     Dtype = "U8"
	Bool   Dtype = "BOOL"
	F8E4M3 Dtype = "F8_E4M3"
	F8E5M2 Dtype = "F8_E5M2"
)

var dtypeSizes = map[Dtype]int64{
	F64: 8, F32: 4, F16: 2, BF16: 2,
	I64: 8, I32: 4, I16: 2, I8: 1,
	U64: 8, U32: 4, U16: 2, U8: 1,
	Bool: 1, F8E4M3: 1, F8E5M2: 1,
}

// Size returns the bytes per element, or 0 for an unknown dtype.
func (d Dtype) Size() int { return int(dtypeSizes[d]) }

// TensorInfo describes one tensor of a safetensors header.
type TensorInfo struct {
	Name  string
	Dtype Dtype
	Shape []int
	// Begin and End are the tensor's byte range relative to the start of
	// the data section, as written in data_offsets.
	Begin, End int64
}

// Elements returns the product of the shape (1 for a scalar).
func (t *TensorInfo) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// SafetensorsHeader is a parsed and validated safetensors header.
type SafetensorsHeader struct {
	// DataOffset is where the data section starts in the file: 8 plus the
	// header length.
	DataOffset int64
	// Tensors are sorted by Begin. Their ranges lie within the data section
	// and do not overlap.
	Tensors []TensorInfo
	// Metadata is the optional __metadata__ string map.
	Metadata map[string]string
}

// ParseSafetensorsHeader parses the header at the start of a safetensors
// file. b holds at least the 8-byte length prefix and the JSON header (it
// may hold the whole file); fileSize is the size of the whole file. It
// checks that the header fits in the file and is a JSON object of tensor
// entries with a known dtype, a non-negative shape and data_offsets whose
// length equals shape product × dtype size, that every range lies within the
// data section, and that no two ranges overlap. __metadata__ is kept aside.
func ParseSafetensorsHeader(b []byte, fileSize int64) (*SafetensorsHeader, error) {
	if fileSize < 8 || len(b) < 8 {
		return nil, fmt.Errorf("%w: file of %d bytes is shorter than the 8-byte header length", ErrInvalidSafetensors, fileSize)
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > MaxSafetensorsHeader {
		return nil, fmt.Errorf("%w: header length %d exceeds the %d-byte limit", ErrInvalidSafetensors, n, MaxSafetensorsHeader)
	}
	if int64(n) > fileSize-8 {
		return nil, fmt.Errorf("%w: header length %d runs past the end of the %d-byte file (header would end at byte %d)",
			ErrInvalidSafetensors, n, fileSize, 8+n)
	}
	if uint64(len(b)-8) < n {
		return nil, fmt.Errorf("%w: header length %d but only %d header bytes given", ErrInvalidSafetensors, n, len(b)-8)
	}
	h := &SafetensorsHeader{DataOffset: 8 + int64(n)}
	if err := h.parseJSON(b[8:8+n], fileSize-h.DataOffset); err != nil {
		return nil, err
	}
	return h, nil
}

type rawTensorEntry struct {
	Dtype       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

func (h *SafetensorsHeader) parseJSON(js []byte, dataSize int64) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: header: %s", ErrInvalidSafetensors, fmt.Sprintf(format, a...))
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	tok, err := dec.Token()
	if err != nil {
		return bad("malformed JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return bad("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad("malformed JSON at byte %d: %v", dec.InputOffset(), err)
		}
		name, _ := tok.(string) // object keys are always strings
		if seen[name] {
			return bad("tensor %q appears twice", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&h.Metadata); err != nil {
				return bad("__metadata__ is not a map of strings: %v", err)
			}
			continue
		}
		var e rawTensorEntry
		if err := dec.Decode(&e); err != nil {
			return bad("tensor %q: malformed entry: %v", name, err)
		}
		t, err := e.check(name, h.DataOffset, dataSize)
		if err != nil {
			return fmt.Errorf("%w: header: tensor %q: %w", ErrInvalidSafetensors, name, err)
		}
		h.Tensors = append(h.Tensors, t)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return bad("malformed JSON at byte %d: %v", dec.InputOffset(), err)
	}
	// The spec pads the header with spaces; nothing else may follow.
	if rest := bytes.TrimRight(js[dec.InputOffset():], " \t\r\n"); len(rest) != 0 {
		return bad("unexpected bytes after the JSON object at header byte %d", dec.InputOffset())
	}
	sort.Slice(h.Tensors, func(i, j int) bool {
		a, b := &h.Tensors[i], &h.Tensors[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		return a.End < b.End
	})
	var prev *TensorInfo
	for i := range h.Tensors {
		t := &h.Tensors[i]
		if t.Begin == t.End {
			continue // an empty tensor occupies no bytes
		}
		if prev != nil && t.Begin < prev.End {
			return bad("tensors %q [%d,%d) and %q [%d,%d) overlap (data-section byte offsets)",
				prev.Name, prev.Begin, prev.End, t.Name, t.Begin, t.End)
		}
		prev = t
	}
	return nil
}

func (e *rawTensorEntry) check(name string, dataOffset, dataSize int64) (TensorInfo, error) {
	if e.Dtype == nil || e.Shape == nil || e.DataOffsets == nil {
		return TensorInfo{}, errors.New("entry needs dtype, shape and data_offsets")
	}
	t := TensorInfo{Name: name, Dtype: Dtype(*e.Dtype)}
	size, ok := dtypeSizes[t.Dtype]
	if !ok {
		return TensorInfo{}, fmt.Errorf("unknown dtype %q", *e.Dtype)
	}
	if len(*e.DataOffsets) != 2 {
		return TensorInfo{}, fmt.Errorf("data_offsets has %d values, want 2", len(*e.DataOffsets))
	}
	t.Begin, t.End = (*e.DataOffsets)[0], (*e.DataOffsets)[1]
	if t.Begin < 0 || t.End < t.Begin {
		return TensorInfo{}, fmt.Errorf("data_offsets [%d,%d) is not a valid range", t.Begin, t.End)
	}
	if t.End > dataSize {
		return TensorInfo{}, fmt.Errorf("data_offsets [%d,%d) run past the end of the %d-byte data section (file bytes %d..%d of %d)",
			t.Begin, t.End, dataSize, dataOffset+t.Begin, dataOffset+t.End, dataOffset+dataSize)
	}
	t.Shape = make([]int, len(*e.Shape))
	zero := false
	for i, d := range *e.Shape {
		if d < 0 {
			return TensorInfo{}, fmt.Errorf("shape %v has a negative dimension", *e.Shape)
		}
		t.Shape[i] = int(d)
		zero = zero || d == 0
	}
	bytesWant := size
	if zero {
		bytesWant = 0
	}
	for _, d := range *e.Shape {
		if bytesWant == 0 {
			break
		}
		hi, lo := bits.Mul64(uint64(bytesWant), uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return TensorInfo{}, fmt.Errorf("shape %v of %s overflows a 64-bit byte count", *e.Shape, t.Dtype)
		}
		bytesWant = int64(lo)
	}
	if got := t.End - t.Begin; got != bytesWant {
		return TensorInfo{}, fmt.Errorf("shape %v of %s needs %d bytes but data_offsets [%d,%d) span %d", *e.Shape, t.Dtype, bytesWant, t.Begin, t.End, got)
	}
	return t, nil
}

// Safetensors is a set of named tensors read from one safetensors file or
// from the files of a sharded checkpoint. The files are read into memory
// whole; tensors convert to float32 on request.
type Safetensors struct {
	tensors map[string]tensorRef
}

type tensorRef struct {
	path       string
	data       []byte // the whole file
	dataOffset int64
	info       TensorInfo
}

// OpenSafetensors reads and validates one safetensors file.
func OpenSafetensors(path string) (*Safetensors, error) {
	s := &Safetensors{tensors: map[string]tensorRef{}}
	if err := s.addFile(path, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// addFile reads path and adds its tensors, or only those in want when want
// is not nil. It returns an error naming the file for anything wrong.
func (s *Safetensors) addFile(path string, want map[string]bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("bert: read safetensors: %w", err)
	}
	return s.addBytes(path, data, want)
}

// ReadSafetensors parses and validates a safetensors file held in memory,
// such as a mapped file. name stands for the file in error messages. The
// returned value refers to data, which must not change afterwards.
func ReadSafetensors(name string, data []byte) (*Safetensors, error) {
	s := &Safetensors{tensors: map[string]tensorRef{}}
	if err := s.addBytes(name, data, nil); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Safetensors) addBytes(path string, data []byte, want map[string]bool) error {
	h, err := ParseSafetensorsHeader(data, int64(len(data)))
	if err != nil {
		return fmt.Errorf("bert: safetensors %s: %w", path, err)
	}
	for _, t := range h.Tensors {
		if want != nil && !want[t.Name] {
			continue
		}
		s.tensors[t.Name] = tensorRef{path: path, data: data, dataOffset: h.DataOffset, info: t}
	}
	return nil
}

type safetensorsIndex struct {
	WeightMap map[string]string `json:"weight_map"`
}

// OpenSafetensorsIndex reads a sharded checkpoint through its
// model.safetensors.index.json: the weight_map names, for every tensor, the
// file beside the index that holds it. Every listed file must exist and hold
// the tensors the map assigns to it.
func OpenSafetensorsIndex(indexPath string) (*Safetensors, error) {
	raw, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, fmt.Errorf("bert: read safetensors index: %w", err)
	}
	var idx safetensorsIndex
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("bert: safetensors index %s: %w: malformed JSON: %w", indexPath, ErrInvalidSafetensors, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("bert: safetensors index %s: %w: weight_map is missing or empty", indexPath, ErrInvalidSafetensors)
	}
	byFile := map[string]map[string]bool{}
	for tensor, file := range idx.WeightMap {
		// Shards sit beside the index; a path would let the index reach
		// anywhere on disk.
		if file == "" || file != filepath.Base(file) || file == "." || file == ".." || strings.ContainsAny(file, `/\`) {
			return nil, fmt.Errorf("bert: safetensors index %s: %w: tensor %q maps to %q, which is not a file name beside the index",
				indexPath, ErrInvalidSafetensors, tensor, file)
		}
		if byFile[file] == nil {
			byFile[file] = map[string]bool{}
		}
		byFile[file][tensor] = true
	}
	files := make([]string, 0, len(byFile))
	for f := range byFile {
		files = append(files, f)
	}
	sort.Strings(files)
	dir := filepath.Dir(indexPath)
	s := &Safetensors{tensors: map[string]tensorRef{}}
	for _, f := range files {
		if err := s.addFile(filepath.Join(dir, f), byFile[f]); err != nil {
			return nil, fmt.Errorf("bert: safetensors index %s: %w", indexPath, err)
		}
		var missing []string
		for t := range byFile[f] {
			if _, ok := s.tensors[t]; !ok {
				missing = append(missing, t)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return nil, fmt.Errorf("bert: safetensors index %s: %w: %s does not hold tensor %q that weight_map assigns to it (%d missing)",
				indexPath, ErrInvalidSafetensors, f, missing[0], len(missing))
		}
	}
	return s, nil
}

// Tensors is a checkpoint's named tensors: a safetensors file, a sharded
// safetensors checkpoint, or a PyTorch state dict.
type Tensors interface {
	// Names returns the tensor names, sorted.
	Names() []string
	// Info returns a tensor's dtype and shape, and whether it exists.
	Info(name string) (TensorInfo, bool)
	// Float32 returns a tensor's elements as float32 in row-major order;
	// only F32, F16 and BF16 tensors convert.
	Float32(name string) ([]float32, error)
}

// OpenCheckpoint opens the weights of a Hugging Face model directory:
// model.safetensors, else the sharded checkpoint of
// model.safetensors.index.json, else pytorch_model.bin, as transformers
// prefers them.
func OpenCheckpoint(dir string) (Tensors, error) {
	single := filepath.Join(dir, SafetensorsFile)
	if _, err := os.Stat(single); err == nil {
		return OpenSafetensors(single)
	}
	index := filepath.Join(dir, SafetensorsIndexFile)
	if _, err := os.Stat(index); err == nil {
		return OpenSafetensorsIndex(index)
	}
	bin := filepath.Join(dir, PyTorchFile)
	if _, err := os.Stat(bin); err == nil {
		return OpenPyTorch(bin)
	}
	if _, err := os.Stat(filepath.Join(dir, PyTorchIndexFile)); err == nil {
		return nil, fmt.Errorf("bert: weights in %s: a sharded PyTorch checkpoint (%s) is not supported; save the model as safetensors",
			dir, PyTorchIndexFile)
	}
	return nil, fmt.Errorf("bert: no weights in %s: none of %s, %s or %s exists", dir, SafetensorsFile, SafetensorsIndexFile, PyTorchFile)
}

// Names returns the tensor names, sorted.
func (s *Safetensors) Names() []string {
	names := make([]string, 0, len(s.tensors))
	for n := range s.tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Info returns a tensor's header entry and whether it exists.
func (s *Safetensors) Info(name string) (TensorInfo, bool) {
	r, ok := s.tensors[name]
	return r.info, ok
}

// Float32 returns a tensor's elements converted to float32, in row-major
// order. F32, F16 and BF16 tensors convert exactly; other dtypes are an
// error.
func (s *Safetensors) Float32(name string) ([]float32, error) {
	r, ok := s.tensors[name]
	if !ok {
		return nil, fmt.Errorf("bert: tensor %q not found", name)
	}
	start := r.dataOffset + r.info.Begin
	b := r.data[start : r.dataOffset+r.info.End]
	var out []float32
	switch r.info.Dtype {
	case F32:
		out = make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case F16:
		out = make([]float32, len(b)/2)
		for i := range out {
			out[i] = Float16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case BF16:
		out = make([]float32, len(b)/2)
		for i := range out {
			out[i] = BFloat16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	default:
		return nil, fmt.Errorf("bert: safetensors %s: tensor %q (file bytes %d..%d) has dtype %s; only F32, F16 and BF16 convert to float32",
			r.path, name, start, r.dataOffset+r.info.End, r.info.Dtype)
	}
	return out, nil
}

// Float16ToFloat32 converts an IEEE 754 binary16 value to float32. Every
// binary16 value, subnormals included, is exactly representable, so the
// conversion is exact; infinities keep their sign and NaNs their payload.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch exp {
	case 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: mant × 2^-24. Renormalise around its leading bit p,
		// giving 2^(p-24) × 1.rest, a normal float32.
		p := uint32(bits.Len32(mant)) - 1
		return math.Float32frombits(sign | (p+103)<<23 | (mant<<(23-p))&0x7fffff)
	default:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	}
}

// BFloat16ToFloat32 converts a bfloat16 value, the upper half of a float32,
// to float32. The conversion is exact.
func BFloat16ToFloat32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}
