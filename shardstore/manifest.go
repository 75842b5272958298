package shardstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
)

// FormatVersion is the manifest format this build writes and reads. A store
// written by a newer format is refused rather than misread.
const FormatVersion = 1

// ErrFormat means a store's manifest has a format this build cannot read.
var ErrFormat = errors.New("unsupported store format")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is the CRC32C the manifest records for every blob.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Blob is the manifest's record of one blob.
type Blob struct {
	Size int64  `json:"size"`
	CRC  uint32 `json:"crc32c"`
}

// Manifest is a store's table of contents.
type Manifest struct {
	Format     int                   `json:"format"`
	Config     bert.Config           `json:"config"`
	Vocab      []string              `json:"vocab"`
	Tokenizer  bert.TokenizerOptions `json:"tokenizer"`
	Fidelities []quant.Fidelity      `json:"fidelities"`
	// WordRowBytes is the size of one record of emb/word: a CRC32C of the
	// row followed by Hidden fp32 values.
	WordRowBytes int `json:"word_row_bytes"`
	// Synthetic marks a store of random weights (wrx synth): its latency
	// and memory are real, its accuracy means nothing.
	Synthetic bool `json:"synthetic,omitempty"`
	// Source says where the weights came from.
	Source string `json:"source,omitempty"`
	// Blobs records every other blob's size and CRC32C. The emb/word entry
	// has no whole-blob CRC (CRC 0): its rows carry their own, because a
	// request reads single rows.
	Blobs map[string]Blob `json:"blobs"`
}

// HasFidelity reports whether the store holds shard versions at f.
func (m *Manifest) HasFidelity(f quant.Fidelity) bool {
	for _, g := range m.Fidelities {
		if g == f {
			return true
		}
	}
	return false
}

// manifest blob: "WRXM", format u32, crc32c(json) u32, json.
const manifestMagic = "WRXM"

func encodeManifest(m *Manifest) ([]byte, error) {
	js, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	b := make([]byte, 12+len(js))
	copy(b, manifestMagic)
	binary.LittleEndian.PutUint32(b[4:], uint32(m.Format))
	binary.LittleEndian.PutUint32(b[8:], Checksum(js))
	copy(b[12:], js)
	return b, nil
}

func decodeManifest(b []byte) (*Manifest, error) {
	if len(b) < 12 || string(b[:4]) != manifestMagic {
		return nil, errors.New("manifest: bad magic (not a WRX store, or corrupt)")
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != FormatVersion {
		return nil, fmt.Errorf("manifest: format %d, this build reads format %d: %w", v, FormatVersion, ErrFormat)
	}
	js := b[12:]
	if got, want := Checksum(js), binary.LittleEndian.Uint32(b[8:]); got != want {
		return nil, fmt.Errorf("manifest: checksum %08x, recorded %08x: manifest is corrupt", got, want)
	}
	var m Manifest
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("manifest: body says format %d: %w", m.Format, ErrFormat)
	}
	if err := m.Config.Validate(); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if len(m.Fidelities) == 0 {
		return nil, errors.New("manifest: no fidelities")
	}
	for _, f := range m.Fidelities {
		if !f.Valid() {
			return nil, fmt.Errorf("manifest: fidelity %d is not supported", int(f))
		}
	}
	if m.WordRowBytes != 4+4*m.Config.Hidden {
		return nil, fmt.Errorf("manifest: word row of %d bytes, want %d for hidden %d", m.WordRowBytes, 4+4*m.Config.Hidden, m.Config.Hidden)
	}
	return &m, nil
}
