package flatfile_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx/storage"
	"github.com/wrxlabs/wrx/storage/flatfile"
	"github.com/wrxlabs/wrx/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) string {
		return "file:" + filepath.Join(t.TempDir(), "store")
	})
}

func TestConformanceBuffered(t *testing.T) {
	// The same suite with direct IO off exercises the plain-pread path.
	storagetest.RunWith(t, func(t *testing.T) string {
		return "file:" + filepath.Join(t.TempDir(), "store")
	}, storage.OpenOptions{Direct: storage.DirectOff})
}

func randomBlob(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeStore commits blobs to a new store at dir and returns them.
func writeStore(t testing.TB, dir string, sizes ...int) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, uint64(len(sizes))))
	w, err := flatfile.Create(ctx, dir, storage.CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Abort()
	blobs := map[string][]byte{}
	for i, n := range sizes {
		key := fmt.Sprintf("L%02d/H00/attn/q8", i)
		blobs[key] = randomBlob(r, n)
		if err := w.Put(ctx, key, blobs[key]); err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return blobs
}

// layoutIndex builds, independently of the package, the index file the
// format documentation describes for blobs laid out in key order.
func layoutIndex(version uint32, blobs map[string][]byte, keys []string) []byte {
	var b []byte
	b = append(b, "WRXFLAT\x00"...)
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(keys)))
	var off uint64
	var body []byte
	for _, k := range keys {
		body = binary.LittleEndian.AppendUint16(body, uint16(len(k)))
		body = append(body, k...)
		body = binary.LittleEndian.AppendUint64(body, off)
		body = binary.LittleEndian.AppendUint64(body, uint64(len(blobs[k])))
		body = binary.LittleEndian.AppendUint32(body, crc32.Checksum(blobs[k], crc32.MakeTable(crc32.Castagnoli)))
		off += (uint64(len(blobs[k])) + 4095) / 4096 * 4096
	}
	b = binary.LittleEndian.AppendUint64(b, off)
	b = binary.LittleEndian.AppendUint32(b, 4096)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

func TestFileLayout(t *testing.T) {
	// Written in key order, the files must match the documented format
	// byte for byte.
	dir := filepath.Join(t.TempDir(), "s")
	blobs := writeStore(t, dir, 10, 0, 4096, 5000)
	keys := []string{"L00/H00/attn/q8", "L01/H00/attn/q8", "L02/H00/attn/q8", "L03/H00/attn/q8"}

	gotIndex, err := os.ReadFile(filepath.Join(dir, "index"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(layoutIndex(1, blobs, keys), gotIndex); diff != "" {
		t.Errorf("index differs from the documented format (-want +got):\n%s", diff)
	}
	var wantData []byte
	for _, k := range keys {
		b := append([]byte{}, blobs[k]...)
		wantData = append(wantData, append(b, make([]byte, (4096-len(b)%4096)%4096)...)...)
	}
	gotData, err := os.ReadFile(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotData, wantData) {
		t.Errorf("data file is %d bytes, want %d bytes of aligned, zero-padded blobs", len(gotData), len(wantData))
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("parent holds %d entries after Commit, want only the store (no temporary files)", len(entries))
	}
}

func TestOpenRefusesDamage(t *testing.T) {
	ctx := context.Background()
	sizes := []int{100, 5000, 0, 12000}

	t.Run("truncated data", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "s")
		writeStore(t, dir, sizes...)
		data := filepath.Join(dir, "data")
		fi, _ := os.Stat(data)
		for _, cut := range []int64{1, 4096, fi.Size()} {
			if err := os.Truncate(data, fi.Size()-cut); err != nil {
				t.Fatal(err)
			}
			_, err := storage.Open(ctx, "file:"+dir)
			if err == nil || !strings.Contains(err.Error(), data) || !strings.Contains(err.Error(), "truncated") {
				t.Errorf("cut %d bytes: Open err = %v, want a truncation error naming %s", cut, err, data)
			}
		}
	})

	t.Run("extended data", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "s")
		writeStore(t, dir, sizes...)
		data := filepath.Join(dir, "data")
		fi, _ := os.Stat(data)
		os.Truncate(data, fi.Size()+4096)
		if _, err := storage.Open(ctx, "file:"+dir); err == nil || !strings.Contains(err.Error(), data) {
			t.Errorf("Open err = %v, want an error naming %s", err, data)
		}
	})

	t.Run("missing files", func(t *testing.T) {
		for _, name := range []string{"index", "data"} {
			dir := filepath.Join(t.TempDir(), "s")
			writeStore(t, dir, sizes...)
			os.Remove(filepath.Join(dir, name))
			_, err := storage.Open(ctx, "file:"+dir)
			if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(dir, name)) {
				t.Errorf("without %s: Open err = %v, want fs.ErrNotExist naming the file", name, err)
			}
		}
	})

	dir := filepath.Join(t.TempDir(), "s")
	writeStore(t, dir, sizes...)
	indexPath := filepath.Join(dir, "index")
	good, err := os.ReadFile(indexPath)
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, what string, index []byte) {
		t.Helper()
		if err := os.WriteFile(indexPath, index, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := storage.Open(ctx, "file:"+dir)
		if err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", what)
		} else if !strings.Contains(err.Error(), indexPath) {
			t.Errorf("%s: Open err = %v, want it to name %s", what, err, indexPath)
		}
	}

	t.Run("every index byte flipped", func(t *testing.T) {
		for i := range good {
			bad := bytes.Clone(good)
			bad[i] ^= 0x55
			check(t, fmt.Sprintf("byte %d", i), bad)
		}
	})
	t.Run("truncated index", func(t *testing.T) {
		for _, n := range []int{0, 1, 8, 31, 32, 40, len(good) - 5, len(good) - 1} {
			check(t, fmt.Sprintf("%d of %d bytes", n, len(good)), good[:n])
		}
	})
	t.Run("newer format", func(t *testing.T) {
		// A well-formed index of a future version: right checksum, so only
		// the version makes it unreadable.
		newer := bytes.Clone(good[:len(good)-4])
		binary.LittleEndian.PutUint32(newer[8:], 2)
		newer = binary.LittleEndian.AppendUint32(newer, crc32.Checksum(newer, crc32.MakeTable(crc32.Castagnoli)))
		os.WriteFile(indexPath, newer, 0o644)
		_, err := storage.Open(ctx, "file:"+dir)
		if err == nil || !strings.Contains(err.Error(), "newer") {
			t.Errorf("Open err = %v, want a 'newer format' error", err)
		}
	})
	t.Run("restored", func(t *testing.T) {
		os.WriteFile(indexPath, good, 0o644)
		s, err := storage.Open(ctx, "file:"+dir)
		if err != nil {
			t.Fatalf("Open of the undamaged store: %v", err)
		}
		s.Close()
	})
}

func TestVerifyFindsFlippedByte(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "s")
	blobs := writeStore(t, dir, 100, 5000, 12000)
	s, err := flatfile.Open(ctx, dir, storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("Verify of an intact store: %v", err)
	}
	s.Close()

	// The third blob (key order = write order here) starts at 4096+8192.
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{blobs["L02/H00/attn/q8"][777] ^ 1}
	f.WriteAt(b, 4096+8192+777)
	f.Close()

	s, err = flatfile.Open(ctx, dir, storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Verify(ctx); err == nil || !strings.Contains(err.Error(), "L02/H00/attn/q8") {
		t.Errorf("Verify err = %v, want a checksum error naming L02/H00/attn/q8", err)
	}
}

func TestCreateErrors(t *testing.T) {
	ctx := context.Background()

	t.Run("parent is a file", func(t *testing.T) {
		_, err := storage.Create(ctx, "file:/dev/null/store", storage.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "/dev/null") {
			t.Errorf("err = %v, want an error naming /dev/null", err)
		}
	})
	t.Run("parent missing", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "no", "such", "store")
		_, err := storage.Create(ctx, "file:"+p, storage.CreateOptions{})
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), p) {
			t.Errorf("err = %v, want fs.ErrNotExist naming %s", err, p)
		}
	})
	t.Run("overwrite refuses non-stores", func(t *testing.T) {
		base := t.TempDir()
		notStore := filepath.Join(base, "home")
		os.Mkdir(notStore, 0o755)
		os.WriteFile(filepath.Join(notStore, "thesis.tex"), []byte("precious"), 0o644)
		regular := filepath.Join(base, "file")
		os.WriteFile(regular, []byte("precious"), 0o644)
		for _, p := range []string{notStore, regular} {
			if w, err := storage.Create(ctx, "file:"+p, storage.CreateOptions{Overwrite: true}); err == nil {
				w.Abort()
				t.Errorf("Create(Overwrite) over %s succeeded", p)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(notStore, "thesis.tex")); string(b) != "precious" {
			t.Errorf("unrelated file was touched")
		}
	})
	t.Run("abort leaves no temporary files", func(t *testing.T) {
		base := t.TempDir()
		w, err := storage.Create(ctx, "file:"+filepath.Join(base, "s"), storage.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w.Put(ctx, "a", make([]byte, 10000))
		w.Abort()
		if entries, _ := os.ReadDir(base); len(entries) != 0 {
			t.Errorf("after Abort the parent holds %v", entries)
		}
	})
}
