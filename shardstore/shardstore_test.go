package shardstore_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wrxlabs/wrx/backend"
	_ "github.com/wrxlabs/wrx/backend/native"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
	_ "github.com/wrxlabs/wrx/storage/flatfile"
)

type refLine struct {
	InputIDs     []int     `json:"input_ids"`
	TokenTypeIDs []int     `json:"token_type_ids"`
	Logits       []float64 `json:"logits"`
}

func loadModel(t testing.TB, rel string) (*bert.Model, *bert.Tokenizer, []refLine) {
	t.Helper()
	dir := shared.Path(t, filepath.FromSlash(rel))
	m, err := bert.Load(dir, bert.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := bert.LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "reference.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var refs []refLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r refLine
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	return m, tok, refs
}

func convert(t testing.TB, m *bert.Model, tok *bert.Tokenizer, uri string, fids []quant.Fidelity) *shardstore.Store {
	t.Helper()
	ctx := context.Background()
	if err := shardstore.Convert(ctx, uri, m, tok, shardstore.ConvertOptions{Fidelities: fids}); err != nil {
		t.Fatal(err)
	}
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestFidelity32MatchesDense: a converted store run at fp32 gives the dense
// model's logits, and both agree with PyTorch.
func TestFidelity32MatchesDense(t *testing.T) {
	for _, rel := range []string{"fixtures/tiny-bert", "fixtures/tiny-distilbert", "models/wrx-sst2-small"} {
		t.Run(filepath.Base(rel), func(t *testing.T) {
			m, tok, refs := loadModel(t, rel)
			uri := "file:" + filepath.Join(t.TempDir(), "store")
			s := convert(t, m, tok, uri, []quant.Fidelity{4, 32})
			sm, err := s.Uniform(context.Background(), 32)
			if err != nil {
				t.Fatal(err)
			}
			be, _ := backend.Get("native")
			worst := 0.0
			for _, r := range refs {
				want, err := m.Forward(context.Background(), be, r.InputIDs, r.TokenTypeIDs)
				if err != nil {
					t.Fatal(err)
				}
				got, err := sm.Forward(context.Background(), be, r.InputIDs, r.TokenTypeIDs)
				if err != nil {
					t.Fatal(err)
				}
				for j := range got {
					worst = math.Max(worst, math.Abs(float64(got[j]-want[j])))
					if d := math.Abs(float64(got[j]) - r.Logits[j]); d > 1e-4 {
						t.Fatalf("store logit differs from PyTorch by %.2e", d)
					}
				}
			}
			t.Logf("max |store fp32 - dense| = %.2e over %d inputs", worst, len(refs))
			if worst > 1e-5 {
				t.Errorf("max |store fp32 - dense| = %.2e, want <= 1e-5", worst)
			}
			tok2, err := s.Tokenizer()
			if err != nil {
				t.Fatal(err)
			}
			if tok2.VocabSize() != tok.VocabSize() || tok2.LowerCase() != tok.LowerCase() {
				t.Errorf("tokenizer from manifest differs: vocab %d/%d lower %v/%v", tok2.VocabSize(), tok.VocabSize(), tok2.LowerCase(), tok.LowerCase())
			}
		})
	}
}

func dataFile(t *testing.T, uri string) string {
	return filepath.Join(strings.TrimPrefix(uri, "file:"), "data")
}

// TestFlippedByteNamesShard flips every byte of one shard version inside a
// file: store's data file; each read must fail and name the shard.
func TestFlippedByteNamesShard(t *testing.T) {
	m, tok, _ := loadModel(t, "fixtures/tiny-bert")
	uri := "file:" + filepath.Join(t.TempDir(), "store")
	s := convert(t, m, tok, uri, []quant.Fidelity{2, 8})
	ctx := context.Background()
	key := shardstore.Key{Layer: 1, Head: 2, Part: shardstore.FFN, Fidelity: 2}
	blob, err := s.ReadBlob(ctx, key.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	blob = append([]byte(nil), blob...)
	s.Close()
	path := dataFile(t, uri)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, blob)
	if at < 0 || bytes.Index(data[at+1:], blob) >= 0 {
		t.Fatalf("blob not found exactly once in %s", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range blob {
		flipped := []byte{blob[i] ^ 0x40}
		if _, err := f.WriteAt(flipped, int64(at+i)); err != nil {
			t.Fatal(err)
		}
		st, err := shardstore.OpenURI(ctx, uri)
		if err != nil {
			t.Fatalf("byte %d: open: %v", i, err)
		}
		_, err = st.ReadShard(ctx, key, nil)
		st.Close()
		if err == nil || !strings.Contains(err.Error(), "layer 1 head 2 ffn at 2 bits") {
			t.Fatalf("byte %d flipped: err = %v, want an error naming layer 1 head 2 ffn at 2 bits", i, err)
		}
		if _, err := f.WriteAt(blob[i:i+1], int64(at+i)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenRefusesDamagedStores(t *testing.T) {
	m, tok, _ := loadModel(t, "fixtures/tiny-bert")
	ctx := context.Background()
	t.Run("truncated data", func(t *testing.T) {
		uri := "file:" + filepath.Join(t.TempDir(), "store")
		convert(t, m, tok, uri, []quant.Fidelity{4}).Close()
		p := dataFile(t, uri)
		st, _ := os.Stat(p)
		if err := os.Truncate(p, st.Size()/2); err != nil {
			t.Fatal(err)
		}
		if _, err := shardstore.OpenURI(ctx, uri); err == nil {
			t.Fatal("opened a truncated store")
		} else {
			t.Log(err)
		}
	})
	corruptManifest := func(t *testing.T, edit func([]byte) []byte) error {
		src := convert(t, m, tok, "mem:"+t.Name()+"/src", []quant.Fidelity{4})
		w, err := storage.Create(ctx, "mem:"+t.Name()+"/dst", storage.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := src.Storage().Keys(ctx, "")
		for _, k := range keys {
			b, err := storage.ReadAll(ctx, src.Storage(), k, nil)
			if err != nil {
				t.Fatal(err)
			}
			if k == shardstore.ManifestKey {
				b = edit(append([]byte(nil), b...))
			}
			if err := w.Put(ctx, k, b); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		_, err = shardstore.OpenURI(ctx, "mem:"+t.Name()+"/dst")
		return err
	}
	t.Run("corrupt manifest", func(t *testing.T) {
		err := corruptManifest(t, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
		if err == nil || !strings.Contains(err.Error(), "manifest") {
			t.Fatalf("err = %v, want a manifest error", err)
		}
	})
	t.Run("truncated manifest", func(t *testing.T) {
		err := corruptManifest(t, func(b []byte) []byte { return b[:len(b)-10] })
		if err == nil || !strings.Contains(err.Error(), "manifest") {
			t.Fatalf("err = %v, want a manifest error", err)
		}
	})
	t.Run("newer format", func(t *testing.T) {
		err := corruptManifest(t, func(b []byte) []byte { b[4] = shardstore.FormatVersion + 1; return b })
		if !errors.Is(err, shardstore.ErrFormat) {
			t.Fatalf("err = %v, want ErrFormat", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := shardstore.OpenURI(ctx, "file:"+filepath.Join(t.TempDir(), "none")); err == nil {
			t.Fatal("opened a store that does not exist")
		}
	})
}

// TestInterruptedConvertLeavesNoStore injects a write failure midway
// through a conversion into a file: store; nothing may open afterwards.
func TestInterruptedConvertLeavesNoStore(t *testing.T) {
	m, tok, _ := loadModel(t, "fixtures/tiny-bert")
	ctx := context.Background()
	for _, at := range []int{1, 25, 52} { // 52: the manifest, the last put
		uri := "file:" + filepath.Join(t.TempDir(), "store")
		w, err := storage.Create(ctx, uri, storage.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fw := storage.FaultyWrites(w, storage.Fault{Op: storage.OpPut, Call: at})
		err = shardstore.Write(ctx, fw, m, tok, shardstore.ConvertOptions{Fidelities: []quant.Fidelity{2, 4}})
		if !errors.Is(err, storage.ErrInjected) {
			t.Fatalf("put %d: err = %v, want the injected fault", at, err)
		}
		if err := fw.Abort(); err != nil {
			t.Fatal(err)
		}
		if s, err := shardstore.OpenURI(ctx, uri); err == nil {
			s.Close()
			t.Fatalf("a store opens after a convert interrupted at put %d", at)
		}
	}
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		uri := "file:" + filepath.Join(t.TempDir(), "store")
		n := 0
		err := shardstore.Convert(cctx, uri, m, tok, shardstore.ConvertOptions{Progress: func(done, total int) {
			if n++; n == 10 {
				cancel()
			}
		}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if _, err := shardstore.OpenURI(ctx, uri); err == nil {
			t.Fatal("a store opens after a cancelled convert")
		}
	})
	t.Run("unwritable path", func(t *testing.T) {
		err := shardstore.Convert(ctx, "file:/dev/null/store", m, tok, shardstore.ConvertOptions{Fidelities: []quant.Fidelity{4}})
		if err == nil || !strings.Contains(err.Error(), "/dev/null/store") {
			t.Fatalf("err = %v, want an error naming the path", err)
		}
	})
}

// TestRequestReadsOnlyItsEmbeddingRows counts reads of emb/word while a
// request runs: one row per distinct token, nothing else of the table.
func TestRequestReadsOnlyItsEmbeddingRows(t *testing.T) {
	m, tok, refs := loadModel(t, "fixtures/tiny-distilbert")
	ctx := context.Background()
	uri := "mem:" + t.Name()
	defer storage.DeleteMem(t.Name())
	if err := shardstore.Convert(ctx, uri, m, tok, shardstore.ConvertOptions{Fidelities: []quant.Fidelity{8}}); err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	counting := storage.Counting(st)
	s, err := shardstore.Open(ctx, counting)
	if err != nil {
		t.Fatal(err)
	}
	model, err := s.Uniform(ctx, 8)
	if err != nil {
		t.Fatal(err)
	}
	be, _ := backend.Get("native")
	man := s.Manifest()
	for _, r := range refs[:5] {
		counting.Reset()
		if _, err := model.Forward(ctx, be, r.InputIDs, r.TokenTypeIDs); err != nil {
			t.Fatal(err)
		}
		distinct := map[int]bool{}
		for _, id := range r.InputIDs {
			distinct[id] = true
		}
		reads, bytes := counting.Count(shardstore.WordKey)
		if reads != len(distinct) || bytes != int64(len(distinct)*man.WordRowBytes) {
			t.Errorf("%d tokens (%d distinct): %d reads, %d bytes of %s; want %d reads of %d bytes",
				len(r.InputIDs), len(distinct), reads, bytes, shardstore.WordKey, len(distinct), man.WordRowBytes)
		}
		if all, _ := counting.Count(""); all != reads {
			t.Errorf("request made %d reads besides its embedding rows", all-reads)
		}
	}
}

// TestWordTableInt8 checks the 8-bit word table against the float32 one row
// by row (within half a step of each row's scale), and that a corrupted row
// is reported by number.
func TestWordTableInt8(t *testing.T) {
	m, tok, _ := loadModel(t, "fixtures/tiny-bert")
	ctx := context.Background()
	uri := "file:" + filepath.Join(t.TempDir(), "store")
	s := convert(t, m, tok, uri, []quant.Fidelity{8})
	want, err := s.WordTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.WordTableInt8(ctx)
	if err != nil {
		t.Fatal(err)
	}
	H := want.Hidden
	row := make([]float32, H)
	for id := range len(want.Data) / H {
		if err := got.Rows(ctx, []int{id}, row); err != nil {
			t.Fatal(err)
		}
		for j, v := range row {
			// Half a step, plus the rounding of scale·q to float32.
			if d := math.Abs(float64(v - want.Data[id*H+j])); d > float64(got.Scale[id])/2+math.Abs(float64(v))/(1<<23) {
				t.Fatalf("row %d col %d: 8-bit %v, float32 %v: off by %g > scale/2 = %g", id, j, v, want.Data[id*H+j], d, got.Scale[id]/2)
			}
		}
	}
	// Flip a byte of row 1000's values in the data file.
	blob, err := s.ReadBlob(ctx, shardstore.WordKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := s.Manifest().WordRowBytes
	rowRec := append([]byte(nil), blob[1000*rec:1001*rec]...)
	s.Close()
	path := dataFile(t, uri)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, rowRec)
	if at < 0 {
		t.Fatal("row 1000 not found in the data file")
	}
	data[at+10] ^= 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s2, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.WordTableInt8(ctx); !errors.Is(err, shardstore.ErrCorrupt) || !strings.Contains(err.Error(), "row 1000") {
		t.Errorf("corrupted row 1000: err = %v, want ErrCorrupt naming the row", err)
	}
}
