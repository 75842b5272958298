package shardstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
)

// A shard blob is a small table of sections followed by the sections:
//
//	magic "WRXB", version u8, part u8, section count u16
//	count × (offset u32, length u32)
//	sections, each starting at a multiple of sectionAlign
//
// Attention blobs hold Q, K, V, O (quant blobs) then the Q, K, V biases
// (raw little-endian fp32); FFN blobs hold Up, Down, then the Up bias.
// Sections are aligned so that decoded matrices can view the blob in place.
const (
	blobMagic    = "WRXB"
	blobVersion  = 1
	sectionAlign = 16
)

var errBlob = errors.New("malformed shard blob")

func packSections(part Part, sections [][]byte) []byte {
	head := 8 + 8*len(sections)
	off := alignUp(head)
	offs := make([]int, len(sections))
	for i, s := range sections {
		offs[i] = off
		off = alignUp(off + len(s))
	}
	b := make([]byte, off)
	copy(b, blobMagic)
	b[4], b[5] = blobVersion, byte(part)
	binary.LittleEndian.PutUint16(b[6:], uint16(len(sections)))
	for i, s := range sections {
		binary.LittleEndian.PutUint32(b[8+8*i:], uint32(offs[i]))
		binary.LittleEndian.PutUint32(b[12+8*i:], uint32(len(s)))
		copy(b[offs[i]:], s)
	}
	return b
}

func alignUp(n int) int { return (n + sectionAlign - 1) &^ (sectionAlign - 1) }

func unpackSections(b []byte, part Part, want int) ([][]byte, error) {
	return unpackSectionsIn(b, part, want, nil)
}

// unpackSectionsIn is unpackSections returning the sections in dst when it
// has room for them.
func unpackSectionsIn(b []byte, part Part, want int, dst [][]byte) ([][]byte, error) {
	if len(b) < 8 || string(b[:4]) != blobMagic {
		return nil, fmt.Errorf("%w: bad magic", errBlob)
	}
	if b[4] != blobVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", errBlob, b[4], blobVersion)
	}
	if Part(b[5]) != part {
		return nil, fmt.Errorf("%w: holds part %v, want %v", errBlob, Part(b[5]), part)
	}
	n := int(binary.LittleEndian.Uint16(b[6:]))
	if n != want || len(b) < 8+8*n {
		return nil, fmt.Errorf("%w: %d sections, want %d", errBlob, n, want)
	}
	out := dst[:0]
	if cap(out) < n {
		out = make([][]byte, n)
	}
	out = out[:n]
	for i := range n {
		off := uint64(binary.LittleEndian.Uint32(b[8+8*i:]))
		ln := uint64(binary.LittleEndian.Uint32(b[12+8*i:]))
		if off+ln > uint64(len(b)) {
			return nil, fmt.Errorf("%w: section %d [%d,+%d) beyond %d bytes", errBlob, i, off, ln, len(b))
		}
		out[i] = b[off : off+ln : off+ln]
	}
	return out, nil
}

func floatBytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func bytesFloats(b []byte, want int, what string) ([]float32, error) {
	if len(b) != 4*want {
		return nil, fmt.Errorf("%w: %s has %d bytes, want %d", errBlob, what, len(b), 4*want)
	}
	v := make([]float32, want)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// viewFloats is bytesFloats without the copy where the host is
// little-endian and b is 4-byte aligned (sections are): the floats view b,
// which must outlive them.
func viewFloats(b []byte, want int, what string) ([]float32, error) {
	if len(b) != 4*want {
		return nil, fmt.Errorf("%w: %s has %d bytes, want %d", errBlob, what, len(b), 4*want)
	}
	if want == 0 || !littleEndian || uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		return bytesFloats(b, want, what)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), want), nil
}

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func denseOf(m backend.Matrix) ([]float32, int, int) {
	n, k := m.Dims()
	if d, ok := m.(*backend.Dense); ok {
		return d.Data, n, k
	}
	buf := make([]float32, n*k)
	m.DecodeRows(buf, 0, n)
	return buf, n, k
}

func encodeMatrix(m backend.Matrix, f quant.Fidelity) ([]byte, error) {
	w, n, k := denseOf(m)
	return quant.Encode(w, n, k, f, quant.EncodeOptions{})
}

// EncodeAttention encodes an attention shard at fidelity f.
func EncodeAttention(s *bert.AttentionShard, f quant.Fidelity) ([]byte, error) {
	secs := make([][]byte, 0, 7)
	for i, m := range []backend.Matrix{s.Query, s.Key, s.Value, s.Output} {
		b, err := encodeMatrix(m, f)
		if err != nil {
			return nil, fmt.Errorf("attention matrix %d: %w", i, err)
		}
		secs = append(secs, b)
	}
	secs = append(secs, floatBytes(s.QueryBias), floatBytes(s.KeyBias), floatBytes(s.ValueBias))
	return packSections(Attention, secs), nil
}

// EncodeFFN encodes an FFN shard at fidelity f.
func EncodeFFN(s *bert.FFNShard, f quant.Fidelity) ([]byte, error) {
	up, err := encodeMatrix(s.Up, f)
	if err != nil {
		return nil, fmt.Errorf("ffn up: %w", err)
	}
	down, err := encodeMatrix(s.Down, f)
	if err != nil {
		return nil, fmt.Errorf("ffn down: %w", err)
	}
	return packSections(FFN, [][]byte{up, down, floatBytes(s.UpBias)}), nil
}

func decodeMatrix(b []byte, n, k int, what string) (*quant.Matrix, error) {
	return decodeMatrixIn(b, n, k, what, new(quant.Matrix))
}

// decodeMatrixIn is decodeMatrix into m.
func decodeMatrixIn(b []byte, n, k int, what string, m *quant.Matrix) (*quant.Matrix, error) {
	if err := quant.DecodeInto(m, b); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if gn, gk := m.Dims(); gn != n || gk != k {
		return nil, fmt.Errorf("%w: %s is %d×%d, want %d×%d", errBlob, what, gn, gk, n, k)
	}
	return m, nil
}

// ShardSpace is memory for one decoded shard blob, reused from one blob to
// the next: decoding a streamed shard into a space allocates nothing. A
// shard decoded into a space is valid until the space decodes another.
// The zero value is ready to use.
type ShardSpace struct {
	secs [7][]byte
	mats [4]quant.Matrix
	attn bert.AttentionShard
	ffn  bert.FFNShard
}

// DecodeAttention decodes an attention blob for a model of config c. The
// shard's matrices view blob, which must outlive the shard.
func DecodeAttention(blob []byte, c *bert.Config) (*bert.AttentionShard, error) {
	return decodeAttentionIn(blob, c, new(ShardSpace))
}

func decodeAttentionIn(blob []byte, c *bert.Config, sp *ShardSpace) (*bert.AttentionShard, error) {
	s, err := unpackSectionsIn(blob, Attention, 7, sp.secs[:])
	if err != nil {
		return nil, err
	}
	H, d := c.Hidden, c.HeadDim()
	sh := &sp.attn
	*sh = bert.AttentionShard{}
	if sh.Query, err = decodeMatrixIn(s[0], d, H, "query", &sp.mats[0]); err != nil {
		return nil, err
	}
	if sh.Key, err = decodeMatrixIn(s[1], d, H, "key", &sp.mats[1]); err != nil {
		return nil, err
	}
	if sh.Value, err = decodeMatrixIn(s[2], d, H, "value", &sp.mats[2]); err != nil {
		return nil, err
	}
	if sh.Output, err = decodeMatrixIn(s[3], H, d, "output", &sp.mats[3]); err != nil {
		return nil, err
	}
	if sh.QueryBias, err = viewFloats(s[4], d, "query bias"); err != nil {
		return nil, err
	}
	if sh.KeyBias, err = viewFloats(s[5], d, "key bias"); err != nil {
		return nil, err
	}
	if sh.ValueBias, err = viewFloats(s[6], d, "value bias"); err != nil {
		return nil, err
	}
	return sh, nil
}

// DecodeFFN decodes an FFN blob for a model of config c. The shard's
// matrices view blob, which must outlive the shard.
func DecodeFFN(blob []byte, c *bert.Config) (*bert.FFNShard, error) {
	return decodeFFNIn(blob, c, new(ShardSpace))
}

func decodeFFNIn(blob []byte, c *bert.Config, sp *ShardSpace) (*bert.FFNShard, error) {
	s, err := unpackSectionsIn(blob, FFN, 3, sp.secs[:])
	if err != nil {
		return nil, err
	}
	H, f := c.Hidden, c.FFNSlice()
	sh := &sp.ffn
	*sh = bert.FFNShard{}
	if sh.Up, err = decodeMatrixIn(s[0], f, H, "ffn up", &sp.mats[0]); err != nil {
		return nil, err
	}
	if sh.Down, err = decodeMatrixIn(s[1], H, f, "ffn down", &sp.mats[1]); err != nil {
		return nil, err
	}
	if sh.UpBias, err = viewFloats(s[2], f, "ffn up bias"); err != nil {
		return nil, err
	}
	return sh, nil
}
