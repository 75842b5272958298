package badger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
)

// Badger opened read-only does not notice a truncated value log: values past
// the cut read back as empty, without an error. So Commit records every
// file of the finished database with its size in fileList, and Open refuses
// a store whose files differ. The file, little-endian:
//
//	"WRXBDGR\x00", uint32 version (1), uint32 count,
//	count × (uint16 name length, name, uint64 size),
//	uint32 CRC32C of all the bytes before it.
const (
	fileList        = "WRXFILES"
	fileListMagic   = "WRXBDGR\x00"
	fileListVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// writeFileList records the regular files in dir and their sizes.
func writeFileList(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	b := []byte(fileListMagic)
	b = binary.LittleEndian.AppendUint32(b, fileListVersion)
	var names []string
	var sizes []int64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		names = append(names, e.Name())
		sizes = append(sizes, fi.Size())
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(names)))
	for i, n := range names {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(n)))
		b = append(b, n...)
		b = binary.LittleEndian.AppendUint64(b, uint64(sizes[i]))
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return os.WriteFile(filepath.Join(dir, fileList), b, 0o644)
}

// checkFileList verifies dir against its file list; errors name the file
// at fault.
func checkFileList(dir string) error {
	path := filepath.Join(dir, fileList)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("not a complete WRX Badger store: %w", err)
		}
		return err
	}
	bad := func(why string) error { return fmt.Errorf("file list %s is damaged: %s", path, why) }
	if len(b) < len(fileListMagic)+12 || string(b[:len(fileListMagic)]) != fileListMagic {
		return bad("bad magic or too short")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != fileListVersion {
		if v > fileListVersion {
			return fmt.Errorf("file list %s: format version %d is newer than this program reads (%d); upgrade WRX", path, v, fileListVersion)
		}
		return bad(fmt.Sprintf("unknown version %d", v))
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(body):]) {
		return bad("checksum mismatch")
	}
	count := binary.LittleEndian.Uint32(b[12:])
	p := body[16:]
	want := map[string]int64{}
	for range count {
		if len(p) < 2 {
			return bad("cut short")
		}
		n := int(binary.LittleEndian.Uint16(p))
		if len(p) < 2+n+8 {
			return bad("cut short")
		}
		want[string(p[2:2+n])] = int64(binary.LittleEndian.Uint64(p[2+n:]))
		p = p[2+n+8:]
	}
	if len(p) != 0 {
		return bad("stray bytes")
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			return fmt.Errorf("store file missing: %w", err)
		}
		if fi.Size() != want[n] {
			what := "truncated"
			if fi.Size() > want[n] {
				what = "longer than it should be"
			}
			return fmt.Errorf("store file %s is %d bytes but %s says %d: %s", filepath.Join(dir, n), fi.Size(), path, want[n], what)
		}
	}
	return nil
}
