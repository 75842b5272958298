// Package shardstore lays a BERT model out in a storage.Store as
// independently loadable shard versions, and reads it back.
//
// A converted store holds:
//
//	manifest               config, vocab, fidelities, and size + CRC32C of every blob
//	resident               layer norms, output biases and the classifier head (fp32)
//	emb/position           position embeddings, fp32, row-major (read by prefix)
//	emb/word               word embeddings as row records: CRC32C + fp32 row
//	L03/H07/attn/4         attention part of layer 3, head 7, at 4 bits
//	L03/H07/ffn/4          its FFN part
//	profile/importance     (optional) profiles written by the elastic package
//
// Convert puts shard versions by layer, then fidelity, then part, then
// head, so that in a store that keeps put order (file:) a layer's versions
// at one fidelity are one contiguous range, which ReadShards reads with one
// storage read.
//
// Every shard version is verified against its manifest CRC on read, and an
// error names the shard (layer, head, part, fidelity). Convert writes through
// a storage.Writer, so an interrupted conversion leaves no store that opens.
package shardstore

import (
	"fmt"
	"strconv"

	"github.com/wrxlabs/wrx/quant"
)

// Part is one of the two blobs a shard is stored as. The FFN half of a layer
// needs the normalised output of the whole attention half, so the two are
// streamed separately.
type Part uint8

// The parts of a shard.
const (
	Attention Part = iota
	FFN
)

// String returns "attn" or "ffn".
func (p Part) String() string {
	if p == Attention {
		return "attn"
	}
	return "ffn"
}

// Key names one shard version: a part of one head's shard in one layer, at
// one fidelity.
type Key struct {
	Layer, Head int
	Part        Part
	Fidelity    quant.Fidelity
}

// String is the storage key, e.g. "L03/H07/attn/4".
func (k Key) String() string {
	// As fmt's "L%02d/H%02d/%s/%d", which a request would call for every
	// blob it reads, at several allocations each.
	pad2 := func(b []byte, n int) []byte {
		if n >= 0 && n < 10 {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, int64(n), 10)
	}
	b := make([]byte, 0, 24)
	b = pad2(append(b, 'L'), k.Layer)
	b = pad2(append(b, "/H"...), k.Head)
	b = append(append(append(b, '/'), k.Part.String()...), '/')
	return string(strconv.AppendInt(b, int64(k.Fidelity), 10))
}

// Describe names the shard for error messages.
func (k Key) Describe() string {
	return fmt.Sprintf("shard layer %d head %d %s at %d bits", k.Layer, k.Head, k.Part, int(k.Fidelity))
}

// Fixed keys.
const (
	ManifestKey   = "manifest"
	ResidentKey   = "resident"
	PositionKey   = "emb/position"
	WordKey       = "emb/word"
	ProfilePrefix = "profile/"
)
