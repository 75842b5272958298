package bert

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// PyTorchFile is the name of a PyTorch checkpoint in a Hugging Face model
// directory, read when the directory has no safetensors weights.
const PyTorchFile = "pytorch_model.bin"

// PyTorchIndexFile names the index of a sharded PyTorch checkpoint, which
// this package does not read.
const PyTorchIndexFile = "pytorch_model.bin.index.json"

// MaxPickleSize bounds the data.pkl record of a PyTorch checkpoint: the
// pickled state dict, which holds names and shapes, not weights (a
// BERT-base state dict pickles to about 20 KB).
const MaxPickleSize = 64 << 20

// ErrInvalidPyTorch is wrapped by every error that reports a malformed or
// unsupported PyTorch checkpoint, as opposed to an I/O failure.
var ErrInvalidPyTorch = errors.New("invalid PyTorch checkpoint")

// PyTorch is the state dict of a pytorch_model.bin written by torch.save
// (the zip format, PyTorch 1.6 and later): named tensors whose data sits
// in the archive's storage records. It is read without running any of the
// pickle's code: the pickle may name only the classes a state dict of
// tensors needs (collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter and the torch.*Storage types), and every
// tensor's shape, stride and offset are checked against its storage
// record. The file is read into memory whole; tensors convert to float32
// on request. It implements Tensors.
type PyTorch struct {
	path    string
	data    []byte
	tensors map[string]*ptTensor
}

type ptStorage struct {
	key   string
	dtype Dtype
	numel int64
	file  *zip.File
}

type ptTensor struct {
	info    TensorInfo
	storage *ptStorage
	offset  int64 // in elements
	stride  []int64
}

// storageDtypes maps the torch storage classes to safetensors dtypes.
var storageDtypes = map[string]Dtype{
	"FloatStorage": F32, "HalfStorage": F16, "BFloat16Storage": BF16, "DoubleStorage": F64,
	"LongStorage": I64, "IntStorage": I32, "ShortStorage": I16, "CharStorage": I8,
	"ByteStorage": U8, "BoolStorage": Bool,
}

// OpenPyTorch reads and validates a PyTorch checkpoint file.
func OpenPyTorch(path string) (*PyTorch, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bert: read PyTorch checkpoint: %w", err)
	}
	return ReadPyTorch(path, data)
}

// ReadPyTorch parses and validates a PyTorch checkpoint held in memory.
// name stands for the file in error messages. The returned value refers to
// data, which must not change afterwards.
func ReadPyTorch(name string, data []byte) (p *PyTorch, err error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("bert: PyTorch checkpoint %s: %w: %s", name, ErrInvalidPyTorch, fmt.Sprintf(format, a...))
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		if len(data) >= 2 && data[0] == 0x80 {
			return nil, bad("a pickle file in PyTorch's legacy format (before 1.6), which is not supported; save it again with torch.save, or as safetensors")
		}
		return nil, bad("not a zip archive as torch.save writes (%v)", err)
	}
	// Every record sits under one directory, named after the file when it
	// was saved ("archive/" from PyTorch 2.1).
	var prefix string
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/data.pkl") && strings.Count(f.Name, "/") == 1 {
			prefix = strings.TrimSuffix(f.Name, "data.pkl")
			break
		}
	}
	if prefix == "" {
		return nil, bad("no data.pkl record: not a checkpoint written by torch.save")
	}
	records := map[string]*zip.File{}
	for _, f := range zr.File {
		if rest, ok := strings.CutPrefix(f.Name, prefix); ok {
			records[rest] = f
		}
	}
	if _, ok := records["constants.pkl"]; ok {
		return nil, bad("a TorchScript archive (torch.jit.save), not a state dict")
	}
	if f, ok := records["byteorder"]; ok {
		b, err := readRecord(f, 16)
		if err != nil {
			return nil, bad("byteorder record: %v", err)
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return nil, bad("byteorder %q: only little-endian checkpoints are supported", s)
		}
	}
	pkl, err := readRecord(records["data.pkl"], MaxPickleSize)
	if err != nil {
		return nil, bad("data.pkl: %v", err)
	}
	if err := scanPickle(pkl); err != nil {
		return nil, bad("data.pkl: %v", err)
	}
	storages := map[string]*ptStorage{}
	u := pickle.NewUnpickler(bytes.NewReader(pkl))
	u.FindClass = findTorchClass
	u.PersistentLoad = func(id any) (any, error) {
		return persistentStorage(id, records, storages)
	}
	u.GetExtension = func(code int) (any, error) { return nil, fmt.Errorf("pickle extension code %d is not allowed", code) }
	obj, err := unpickle(&u)
	if err != nil {
		return nil, bad("data.pkl: %v", err)
	}
	p = &PyTorch{path: name, data: data, tensors: map[string]*ptTensor{}}
	add := func(k, v any) error {
		key, ok := k.(string)
		if !ok {
			return fmt.Errorf("state dict key %v is a %T, not a string", k, k)
		}
		t, ok := v.(*ptTensor)
		if !ok {
			return fmt.Errorf("state dict entry %q is a %T, not a tensor", key, v)
		}
		if _, dup := p.tensors[key]; dup {
			return fmt.Errorf("tensor %q appears twice", key)
		}
		t.info.Name = key
		p.tensors[key] = t
		return nil
	}
	switch d := obj.(type) {
	case *types.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*types.OrderedDictEntry)
			if err := add(entry.Key, entry.Value); err != nil {
				return nil, bad("%v", err)
			}
		}
	case *types.Dict:
		for _, entry := range *d {
			if err := add(entry.Key, entry.Value); err != nil {
				return nil, bad("%v", err)
			}
		}
	default:
		return nil, bad("the pickled object is a %T, not a state dict of tensors", obj)
	}
	return p, nil
}

// unpickle runs the unpickler, turning a panic inside it (malformed input
// it does not check, such as an unhashable dict key) into an error.
func unpickle(u *pickle.Unpickler) (obj any, err error) {
	defer func() {
		if r := recover(); r != nil {
			obj, err = nil, fmt.Errorf("malformed pickle: %v", r)
		}
	}()
	return u.Load()
}

// readRecord reads a zip record of at most limit bytes.
func readRecord(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("record of %d bytes exceeds the %d-byte limit", f.UncompressedSize64, limit)
	}
	r, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, f.UncompressedSize64)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	return b, nil
}

func findTorchClass(module, name string) (any, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return rebuildTensor{}, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		return rebuildParameter{}, nil
	}
	if module == "torch" {
		if dt, ok := storageDtypes[name]; ok {
			return storageClass{dt}, nil
		}
	}
	return nil, fmt.Errorf("the pickle names %s.%s, which a state dict of tensors does not use; refusing to load it", module, name)
}

type storageClass struct{ dtype Dtype }

func persistentStorage(id any, records map[string]*zip.File, storages map[string]*ptStorage) (any, error) {
	t, ok := id.(*types.Tuple)
	if !ok || t.Len() != 5 {
		return nil, fmt.Errorf("persistent id %v is not a ('storage', type, key, location, size) tuple", id)
	}
	kind, _ := t.Get(0).(string)
	class, okC := t.Get(1).(storageClass)
	key, okK := t.Get(2).(string)
	numel, okN := t.Get(4).(int)
	if kind != "storage" || !okC || !okK || !okN || numel < 0 {
		return nil, fmt.Errorf("persistent id %v is not a ('storage', type, key, location, size) tuple", id)
	}
	if s, ok := storages[key]; ok {
		if s.dtype != class.dtype || s.numel != int64(numel) {
			return nil, fmt.Errorf("storage %q is used as %d %s and as %d %s", key, s.numel, s.dtype, numel, class.dtype)
		}
		return s, nil
	}
	f, ok := records["data/"+key]
	if !ok {
		return nil, fmt.Errorf("storage %q has no data/%s record", key, key)
	}
	size := int64(class.dtype.Size())
	if hi, lo := bits.Mul64(uint64(numel), uint64(size)); hi != 0 || lo != f.UncompressedSize64 {
		return nil, fmt.Errorf("storage %q holds %d bytes, want %d %s values (%d bytes)", key, f.UncompressedSize64, numel, class.dtype, uint64(numel)*uint64(size))
	}
	s := &ptStorage{key: key, dtype: class.dtype, numel: int64(numel), file: f}
	storages[key] = s
	return s, nil
}

// rebuildTensor is torch._utils._rebuild_tensor_v2(storage, offset, size,
// stride, requires_grad, backward_hooks[, metadata]).
type rebuildTensor struct{}

func (rebuildTensor) Call(args ...any) (any, error) {
	if len(args) != 6 && len(args) != 7 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 takes 6 or 7 arguments, got %d", len(args))
	}
	s, ok := args[0].(*ptStorage)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage is a %T", args[0])
	}
	offset, ok := args[1].(int)
	if !ok || offset < 0 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage offset %v is not a non-negative integer", args[1])
	}
	shape, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size: %w", err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: stride: %w", err)
	}
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size %v and stride %v differ in rank", shape, stride)
	}
	t := &ptTensor{storage: s, offset: int64(offset), stride: stride, info: TensorInfo{Dtype: s.dtype, Shape: make([]int, len(shape))}}
	// A state dict's tensor has at most as many elements as its storage,
	// and the highest element it reaches must lie in the storage.
	last, n := int64(offset), uint64(1)
	for i, d := range shape {
		t.info.Shape[i] = int(d)
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > uint64(s.numel) && d != 0 {
			return nil, fmt.Errorf("_rebuild_tensor_v2: size %v has more elements than the %d of storage %q", shape, s.numel, s.key)
		}
		n = lo
	}
	if n > 0 {
		for i, d := range shape {
			hi, lo := bits.Mul64(uint64(d-1), uint64(stride[i]))
			if hi != 0 || lo > uint64(s.numel) {
				return nil, fmt.Errorf("_rebuild_tensor_v2: size %v with stride %v at offset %d runs past the %d values of storage %q", shape, stride, offset, s.numel, s.key)
			}
			last += int64(lo)
		}
		if last >= s.numel {
			return nil, fmt.Errorf("_rebuild_tensor_v2: size %v with stride %v at offset %d runs past the %d values of storage %q", shape, stride, offset, s.numel, s.key)
		}
	}
	size := int64(s.dtype.Size())
	t.info.Begin, t.info.End = int64(offset)*size, (last+1)*size
	if n == 0 {
		t.info.End = t.info.Begin
	}
	return t, nil
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad,
// backward_hooks[, state]): a Parameter is its tensor.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 3 || len(args) > 4 {
		return nil, fmt.Errorf("_rebuild_parameter takes 3 or 4 arguments, got %d", len(args))
	}
	t, ok := args[0].(*ptTensor)
	if !ok {
		return nil, fmt.Errorf("_rebuild_parameter: data is a %T, not a tensor", args[0])
	}
	return t, nil
}

func intTuple(v any) ([]int64, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("%v is not a tuple", v)
	}
	out := make([]int64, t.Len())
	for i := range out {
		n, ok := t.Get(i).(int)
		if !ok || n < 0 {
			return nil, fmt.Errorf("%v is not a tuple of non-negative integers", v)
		}
		out[i] = int64(n)
	}
	return out, nil
}

// Names returns the tensor names, sorted.
func (p *PyTorch) Names() []string {
	names := make([]string, 0, len(p.tensors))
	for n := range p.tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Info returns a tensor's dtype and shape and whether it exists. Begin and
// End are the byte range the tensor spans in its storage record.
func (p *PyTorch) Info(name string) (TensorInfo, bool) {
	t, ok := p.tensors[name]
	if !ok {
		return TensorInfo{}, false
	}
	return t.info, true
}

// Float32 returns a tensor's elements converted to float32, in row-major
// order, whatever its stride. F32, F16 and BF16 tensors convert exactly;
// other dtypes are an error.
func (p *PyTorch) Float32(name string) ([]float32, error) {
	t, ok := p.tensors[name]
	if !ok {
		return nil, fmt.Errorf("bert: tensor %q not found", name)
	}
	var conv func([]byte) float32
	switch t.info.Dtype {
	case F32:
		conv = func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }
	case F16:
		conv = func(b []byte) float32 { return Float16ToFloat32(binary.LittleEndian.Uint16(b)) }
	case BF16:
		conv = func(b []byte) float32 { return BFloat16ToFloat32(binary.LittleEndian.Uint16(b)) }
	default:
		return nil, fmt.Errorf("bert: PyTorch checkpoint %s: tensor %q has dtype %s; only F32, F16 and BF16 convert to float32",
			p.path, name, t.info.Dtype)
	}
	raw, err := p.storageBytes(t.storage)
	if err != nil {
		return nil, fmt.Errorf("bert: PyTorch checkpoint %s: tensor %q: %w", p.path, name, err)
	}
	size := int64(t.info.Dtype.Size())
	out := make([]float32, t.info.Elements())
	if len(out) == 0 {
		return out, nil
	}
	// Walk the view's indices in row-major order.
	idx := make([]int, len(t.info.Shape))
	pos := t.offset
	for i := range out {
		out[i] = conv(raw[pos*size:])
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			pos += t.stride[d]
			if idx[d] < t.info.Shape[d] {
				break
			}
			pos -= int64(idx[d]) * t.stride[d]
			idx[d] = 0
		}
	}
	return out, nil
}

// storageBytes returns a storage record's bytes: a slice of the file for
// a stored record (what torch.save writes), decompressed otherwise.
func (p *PyTorch) storageBytes(s *ptStorage) ([]byte, error) {
	f := s.file
	if f.Method == zip.Store {
		off, err := f.DataOffset()
		if err != nil {
			return nil, err
		}
		end := off + int64(f.UncompressedSize64)
		if off < 0 || end > int64(len(p.data)) || f.CompressedSize64 != f.UncompressedSize64 {
			return nil, fmt.Errorf("%w: storage record %s lies outside the file", ErrInvalidPyTorch, path.Base(f.Name))
		}
		return p.data[off:end], nil
	}
	return readRecord(f, int64(f.UncompressedSize64))
}

// scanPickle walks a pickle's opcodes without building anything, and
// checks that every length it gives fits in what is left, so that the
// unpickler never allocates more than the pickle's size. It also refuses
// opcodes a state dict does not need to run code (INST, OBJ, extension
// registry lookups).
func scanPickle(b []byte) error {
	i := 0
	need := func(n uint64) error {
		if n > uint64(len(b)-i) {
			return fmt.Errorf("opcode at byte %d wants %d bytes, %d are left", i, n, len(b)-i)
		}
		return nil
	}
	line := func() error {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return fmt.Errorf("unterminated line argument at byte %d", i)
		}
		i += j + 1
		return nil
	}
	for i < len(b) {
		op := b[i]
		at := i
		i++
		var n uint64 // fixed argument bytes
		switch op {
		case '(', '.', '0', '1', '2', 'N', 'Q', 'R', 'a', 'b', 'd', '}', 'e', 'l', ']', 's', 't', ')', 'u',
			0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98:
		case 'K', 'h', 'q', 0x80:
			n = 1
		case 'M':
			n = 2
		case 'J', 'j', 'r':
			n = 4
		case 'G', 0x95:
			n = 8
		case 'F', 'I', 'L', 'P', 'S', 'V', 'g', 'p':
			if err := line(); err != nil {
				return err
			}
		case 'c':
			if err := line(); err != nil {
				return err
			}
			if err := line(); err != nil {
				return err
			}
		case 'U', 'C', 0x8c, 0x8a: // one-byte length
			if err := need(1); err != nil {
				return err
			}
			n = 1 + uint64(b[i])
		case 'T', 'X', 'B', 0x8b: // four-byte length
			if err := need(4); err != nil {
				return err
			}
			l := binary.LittleEndian.Uint32(b[i:])
			if (op == 'T' || op == 0x8b) && int32(l) < 0 {
				return fmt.Errorf("negative length at byte %d", at)
			}
			n = 4 + uint64(l)
		case 0x8d, 0x8e, 0x96: // eight-byte length
			if err := need(8); err != nil {
				return err
			}
			l := binary.LittleEndian.Uint64(b[i:])
			if l > uint64(len(b)) {
				return fmt.Errorf("opcode at byte %d wants %d bytes, %d are left", at, l, len(b)-i-8)
			}
			n = 8 + l
		case 'i', 'o', 0x82, 0x83, 0x84:
			return fmt.Errorf("opcode 0x%02x at byte %d is not used by a state dict; refusing to load it", op, at)
		default:
			return fmt.Errorf("unknown opcode 0x%02x at byte %d", op, at)
		}
		if err := need(n); err != nil {
			return err
		}
		i += int(n)
		if op == 0x95 { // FRAME: its length must fit too
			if err := need(binary.LittleEndian.Uint64(b[i-8:])); err != nil {
				return err
			}
		}
		if op == '.' {
			return nil
		}
	}
	return errors.New("no STOP opcode: truncated pickle")
}
