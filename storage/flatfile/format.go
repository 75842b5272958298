package flatfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"

	"github.com/wrxlabs/wrx/storage"
)

// The index file, all integers little-endian:
//
//	header, 32 bytes:
//	  [0:8]   magic "WRXFLAT\x00"
//	  [8:12]  uint32 format version (formatVersion)
//	  [12:16] uint32 number of entries
//	  [16:24] uint64 length of the data file, a multiple of the alignment
//	  [24:28] uint32 alignment of blob offsets (4096)
//	  [28:32] uint32 reserved, zero
//	entries, sorted by key, each:
//	  uint16 key length, key bytes,
//	  uint64 offset of the blob in the data file (a multiple of the alignment),
//	  uint64 size of the blob in bytes,
//	  uint32 CRC32C (Castagnoli) of the blob
//	trailer:
//	  uint32 CRC32C of every byte before it
//
// The data file is the blobs at their offsets, each padded with zeros to the
// alignment, so the file length is a multiple of it too. Padding costs at
// most 4 KiB per blob (under 2% at typical shard sizes) and is what lets a
// whole blob be read with one direct-IO read.
const (
	magic         = "WRXFLAT\x00"
	formatVersion = 1
	headerLen     = 32
	trailerLen    = 4
	entryFixedLen = 2 + 8 + 8 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type entry struct {
	key    string
	offset int64
	size   int64
	crc    uint32
}

// encodeIndex serializes entries, which must be sorted by key.
func encodeIndex(entries []entry, dataLen int64) []byte {
	n := headerLen + trailerLen
	for _, e := range entries {
		n += entryFixedLen + len(e.key)
	}
	b := make([]byte, 0, n)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, formatVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(entries)))
	b = binary.LittleEndian.AppendUint64(b, uint64(dataLen))
	b = binary.LittleEndian.AppendUint32(b, storage.Align)
	b = binary.LittleEndian.AppendUint32(b, 0)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(e.key)))
		b = append(b, e.key...)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.offset))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.size))
		b = binary.LittleEndian.AppendUint32(b, e.crc)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// errCorrupt marks a structurally invalid index; decodeIndex's errors wrap it.
var errCorrupt = errors.New("corrupt index")

// decodeIndex parses and validates an index. It returns the entries sorted
// by key and the data file length the index promises.
func decodeIndex(b []byte) ([]entry, int64, error) {
	if len(b) < headerLen+trailerLen {
		return nil, 0, fmt.Errorf("%w: %d bytes is shorter than the %d-byte minimum (truncated?)", errCorrupt, len(b), headerLen+trailerLen)
	}
	if string(b[:8]) != magic {
		return nil, 0, fmt.Errorf("%w: bad magic %q, not a WRX flat-file index", errCorrupt, b[:8])
	}
	// The version is checked before the checksum so that a newer format,
	// whose layout may differ, gets a clear message rather than "corrupt".
	if v := binary.LittleEndian.Uint32(b[8:]); v != formatVersion {
		if v > formatVersion {
			return nil, 0, fmt.Errorf("format version %d is newer than this program reads (%d); upgrade WRX", v, formatVersion)
		}
		return nil, 0, fmt.Errorf("%w: unknown format version %d", errCorrupt, v)
	}
	body := b[:len(b)-trailerLen]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(body):]); got != want {
		return nil, 0, fmt.Errorf("%w: checksum %08x, index says %08x (truncated or damaged)", errCorrupt, got, want)
	}
	count := binary.LittleEndian.Uint32(b[12:])
	dataLen := int64(binary.LittleEndian.Uint64(b[16:]))
	if align := binary.LittleEndian.Uint32(b[24:]); align != storage.Align {
		return nil, 0, fmt.Errorf("%w: alignment %d, want %d", errCorrupt, align, storage.Align)
	}
	if dataLen < 0 || dataLen%storage.Align != 0 {
		return nil, 0, fmt.Errorf("%w: data length %d is not a multiple of %d", errCorrupt, dataLen, storage.Align)
	}
	// Each entry takes at least entryFixedLen+1 bytes, which bounds count
	// before we allocate for it.
	p := body[headerLen:]
	if uint64(count) > uint64(len(p)/(entryFixedLen+1)) {
		return nil, 0, fmt.Errorf("%w: %d entries cannot fit in %d bytes", errCorrupt, count, len(p))
	}
	entries := make([]entry, 0, count)
	for i := range int(count) {
		if len(p) < 2 {
			return nil, 0, fmt.Errorf("%w: entry %d is cut short", errCorrupt, i)
		}
		kl := int(binary.LittleEndian.Uint16(p))
		if len(p) < entryFixedLen+kl {
			return nil, 0, fmt.Errorf("%w: entry %d is cut short", errCorrupt, i)
		}
		e := entry{key: string(p[2 : 2+kl])}
		p = p[2+kl:]
		e.offset = int64(binary.LittleEndian.Uint64(p))
		e.size = int64(binary.LittleEndian.Uint64(p[8:]))
		e.crc = binary.LittleEndian.Uint32(p[16:])
		p = p[20:]
		if err := storage.CheckKey(e.key); err != nil {
			return nil, 0, fmt.Errorf("%w: entry %d: %w", errCorrupt, i, err)
		}
		if i > 0 && entries[i-1].key >= e.key {
			return nil, 0, fmt.Errorf("%w: entry %d key %q is out of order", errCorrupt, i, e.key)
		}
		if e.offset < 0 || e.size < 0 || e.offset%storage.Align != 0 || e.size > dataLen || e.offset > dataLen-e.size {
			return nil, 0, fmt.Errorf("%w: blob %q at offset %d, size %d does not fit a %d-byte data file at %d-byte alignment", errCorrupt, e.key, e.offset, e.size, dataLen, storage.Align)
		}
		entries = append(entries, e)
	}
	if len(p) != 0 {
		return nil, 0, fmt.Errorf("%w: %d stray bytes after the last entry", errCorrupt, len(p))
	}
	// Blobs must not overlap, or a damaged index could serve one blob's
	// bytes as another's.
	byOff := slices.Clone(entries)
	slices.SortFunc(byOff, func(a, b entry) int { return compareInt64(a.offset, b.offset) })
	for i := 1; i < len(byOff); i++ {
		prev := byOff[i-1]
		if prev.offset+prev.size > byOff[i].offset {
			return nil, 0, fmt.Errorf("%w: blobs %q and %q overlap", errCorrupt, prev.key, byOff[i].key)
		}
	}
	return entries, dataLen, nil
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// find returns the entry for key in entries sorted by key.
func find(entries []entry, key string) (entry, bool) {
	i, ok := slices.BinarySearchFunc(entries, key, func(e entry, k string) int { return strings.Compare(e.key, k) })
	if !ok {
		return entry{}, false
	}
	return entries[i], true
}
