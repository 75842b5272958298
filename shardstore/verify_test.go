package shardstore_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
	_ "github.com/wrxlabs/wrx/storage/badger"
	"github.com/wrxlabs/wrx/storage/flatfile"
)

// blobsOf reads every blob of the store at uri as stored, keyed by key.
func blobsOf(t *testing.T, uri string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := st.Keys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, k := range keys {
		b, err := storage.ReadAll(ctx, st, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = append([]byte(nil), b...)
	}
	return out
}

// locate finds the bytes of blob in one of the files of dir and returns
// the file and the offset of the blob's middle byte. Random weights make
// every blob's bytes unique.
func locate(t *testing.T, dir string, blob []byte) (string, int64) {
	t.Helper()
	var found string
	var at int64 = -1
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || at >= 0 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if i := bytes.Index(b, blob); i >= 0 {
			found, at = path, int64(i+len(blob)/2)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found, at
}

// flip inverts the byte at off of the file at path.
func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xFF
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// runTimeError reads the damaged blob key the way a request does and
// returns the error, which must name the key and say "checksum".
func runTimeError(ctx context.Context, uri, key string, wordRow int) error {
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		return err // the manifest: Open reads and checks it
	}
	defer s.Close()
	if key == shardstore.WordKey {
		m, err := s.Skeleton(ctx)
		if err != nil {
			return err
		}
		return m.Embeddings.Word.Rows(ctx, []int{wordRow}, make([]float32, s.Config().Hidden))
	}
	_, err = s.ReadBlob(ctx, key, nil)
	return err
}

// TestVerifyFindsEveryDamage damages a small store of each kind at every
// blob in turn (the manifest included; the word blob in one row), flipping
// one byte in its middle, and checks that VerifyURI reports that blob,
// and that reading it as a request does fails with an error that names
// the blob and says "checksum". For the flat-file store it also damages
// the index and truncates the data file.
func TestVerifyFindsEveryDamage(t *testing.T) {
	ctx := context.Background()
	for _, scheme := range []string{"file", "badger"} {
		t.Run(scheme, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			uri := scheme + ":" + dir
			storetest.Synth(t, uri, 4, 32)
			clean, err := shardstore.VerifyURI(ctx, uri)
			if err != nil {
				t.Fatal(err)
			}
			if !clean.OK() || clean.Blobs == 0 || clean.WordRows != storetest.SynthVocabSize {
				t.Fatalf("clean store: %+v", clean)
			}
			blobs := blobsOf(t, uri)
			keys := make([]string, 0, len(blobs))
			for k := range blobs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if len(keys) != clean.Blobs+1 { // every blob and the manifest
				t.Fatalf("%d keys, verify read %d blobs besides the manifest", len(keys), clean.Blobs)
			}
			tried, detected := 0, 0
			for _, key := range keys {
				blob := blobs[key]
				row := 0
				if key == shardstore.WordKey {
					// Damage one row in the middle of the table.
					rec := len(blob) / storetest.SynthVocabSize
					row = storetest.SynthVocabSize / 2
					blob = blob[row*rec : (row+1)*rec]
				}
				file, off := locate(t, dir, blob)
				if off < 0 {
					t.Errorf("%s: bytes not found in the store's files", key)
					continue
				}
				tried++
				flip(t, file, off)
				r, err := shardstore.VerifyURI(ctx, uri)
				switch {
				case err != nil:
					t.Errorf("damaged %s: verify failed outright: %v", key, err)
				case r.OK():
					t.Errorf("damaged %s (byte %d of %s): verify found nothing", key, off, filepath.Base(file))
				default:
					named := false
					for _, p := range r.Problems {
						named = named || p.Key == key
					}
					if !named {
						t.Errorf("damaged %s: problems %+v do not name it", key, r.Problems)
					} else {
						detected++
					}
				}
				if err := runTimeError(ctx, uri, key, row); err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "checksum") {
					t.Errorf("damaged %s: reading it gave %v, want an error naming it and saying checksum", key, err)
				}
				flip(t, file, off)
			}
			if scheme == "file" {
				tried++
				flip(t, filepath.Join(dir, flatfile.IndexFile), 40)
				if r, err := shardstore.VerifyURI(ctx, uri); err != nil || r.OK() || r.Problems[0].Key != "storage" || !strings.Contains(r.Problems[0].Error, "checksum") {
					t.Errorf("damaged index: %+v, %v; want a storage problem saying checksum", r, err)
				} else {
					detected++
				}
				flip(t, filepath.Join(dir, flatfile.IndexFile), 40)
				tried++
				data := filepath.Join(dir, flatfile.DataFile)
				fi, err := os.Stat(data)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(data, fi.Size()-storage.Align); err != nil {
					t.Fatal(err)
				}
				if r, err := shardstore.VerifyURI(ctx, uri); err != nil || r.OK() || !strings.Contains(r.Problems[0].Error, "truncated") {
					t.Errorf("truncated data file: %+v, %v; want a problem saying truncated", r, err)
				} else {
					detected++
				}
			}
			t.Logf("%s store: %d damages tried, %d detected and named", scheme, tried, detected)
			if detected != tried {
				t.Errorf("%d of %d damages detected", detected, tried)
			}
		})
	}
}

// TestVerifyManifestConsistency checks that verify reports a blob the
// manifest lists but the store lacks, one the store holds but the
// manifest does not list, and one whose size differs from the manifest's.
func TestVerifyManifestConsistency(t *testing.T) {
	ctx := context.Background()
	src := "mem:" + t.Name()
	storetest.Synth(t, src, 4)
	blobs := blobsOf(t, src)
	const victim = "L01/H02/ffn/4"
	cases := []struct {
		name   string
		edit   func(map[string][]byte)
		key    string
		saying string
	}{
		{"missing blob", func(b map[string][]byte) { delete(b, victim) }, victim, "the store lacks it"},
		{"stray blob", func(b map[string][]byte) { b["L09/H00/attn/4"] = []byte("stray") }, "L09/H00/attn/4", "not in the manifest"},
		{"short blob", func(b map[string][]byte) { b[victim] = b[victim][:len(b[victim])-1] }, victim, "the manifest says"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uri := "mem:" + t.Name()
			storetest.CleanupMem(t, uri)
			edited := map[string][]byte{}
			for k, v := range blobs {
				edited[k] = v
			}
			tc.edit(edited)
			w, err := storage.Create(ctx, uri, storage.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range edited {
				if err := w.Put(ctx, k, v); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			r, err := shardstore.VerifyURI(ctx, uri)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Problems) != 1 || r.Problems[0].Key != tc.key || !strings.Contains(r.Problems[0].Error, tc.saying) {
				t.Errorf("problems %+v, want one for %s saying %q", r.Problems, tc.key, tc.saying)
			}
		})
	}
	if _, err := shardstore.VerifyURI(ctx, "file:"+filepath.Join(t.TempDir(), "nothing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("verify of no store: %v, want fs.ErrNotExist", err)
	}
}
