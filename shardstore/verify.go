package shardstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/storage"
)

// Verifier is implemented by stores that can check their own structure
// and contents offline, such as a flat-file store against the CRC32C its
// index keeps for every blob (flatfile.Store.Verify).
type Verifier interface {
	Verify(ctx context.Context) error
}

// Problem is one thing wrong with a store.
type Problem struct {
	// Key is the blob that failed ("manifest", "L00/H01/attn/4",
	// "emb/word"), or "storage" for the store's own structure (a
	// flat-file index, a Badger file list).
	Key string `json:"key"`
	// Error says what is wrong with it.
	Error string `json:"error"`
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	// URI is the store verified, when known.
	URI string `json:"uri,omitempty"`
	// Blobs and Bytes count the blobs the manifest lists that were read
	// in full (sound or not) and their size; the manifest is not counted.
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
	// WordRows is how many word embedding rows had their own CRC checked.
	WordRows int `json:"word_rows"`
	// Problems lists everything wrong, empty for a sound store.
	Problems []Problem `json:"problems"`
}

// OK reports whether the store had no problem.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

func (r *VerifyReport) add(key string, err error) {
	r.Problems = append(r.Problems, Problem{Key: key, Error: err.Error()})
}

// Verify reads every blob of the store st in full and checks it: the
// manifest (format, checksum, and that it lists exactly the blobs the
// store holds, at their stored sizes), every blob against the size and
// CRC32C the manifest records for it, each word embedding row against
// its own CRC32C, that every shard version, the resident blob and the
// position embeddings decode for the model's shapes, and, if st is a
// Verifier, the store's own structure. It does not stop at the first
// problem: the report lists them all. The error is for what prevents
// checking at all, such as a cancelled ctx.
func Verify(ctx context.Context, st storage.Store) (*VerifyReport, error) {
	r := &VerifyReport{Problems: []Problem{}}
	if v, ok := st.(Verifier); ok {
		if err := v.Verify(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			r.add("storage", err)
		}
	}
	man, err := readManifest(ctx, st)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r.add(ManifestKey, err)
		return r, nil
	}
	stored, err := st.Keys(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("verify: list keys: %w", err)
	}
	present := make(map[string]bool, len(stored))
	for _, k := range stored {
		present[k] = true
		if _, listed := man.Blobs[k]; !listed && k != ManifestKey {
			r.add(k, errors.New("in the store but not in the manifest"))
		}
	}
	shards := shardKeys(man)
	need := []string{ResidentKey, PositionKey, WordKey}
	for k := range shards {
		need = append(need, k)
	}
	sort.Strings(need)
	for _, k := range need {
		if _, ok := man.Blobs[k]; !ok {
			r.add(k, errors.New("the manifest does not list it, and the model needs it"))
		}
	}
	keys := make([]string, 0, len(man.Blobs))
	for k := range man.Blobs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := &Store{st: st, man: man}
	var buf []byte
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := man.Blobs[key]
		if !present[key] {
			r.add(key, fmt.Errorf("the manifest lists it (%d bytes), the store lacks it", b.Size))
			continue
		}
		size, err := st.Size(ctx, key)
		if err != nil {
			r.add(key, err)
			continue
		}
		if size != b.Size {
			r.add(key, fmt.Errorf("%d bytes, the manifest says %d: truncated or damaged", size, b.Size))
			continue
		}
		r.Blobs++
		r.Bytes += b.Size
		blob, err := s.ReadBlob(ctx, key, buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			r.add(key, err)
			continue
		}
		buf = blob
		if err := s.checkContents(key, blob, shards, r); err != nil {
			r.add(key, err)
		}
	}
	return r, nil
}

// VerifyURI opens the storage at uri by itself, with no wrapper, and
// verifies the store in it (Verify). A location that holds no store is an
// error wrapping fs.ErrNotExist; a store too damaged to open is a
// report with a "storage" problem.
func VerifyURI(ctx context.Context, uri string) (*VerifyReport, error) {
	st, err := storage.Open(ctx, uri)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || ctx.Err() != nil {
			return nil, fmt.Errorf("verify %s: %w", uri, err)
		}
		return &VerifyReport{URI: uri, Problems: []Problem{{Key: "storage", Error: err.Error()}}}, nil
	}
	defer st.Close()
	r, err := Verify(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", uri, err)
	}
	r.URI = uri
	return r, nil
}

// readManifest reads and decodes the manifest of st.
func readManifest(ctx context.Context, st storage.Store) (*Manifest, error) {
	size, err := st.Size(ctx, ManifestKey)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	if _, err := st.ReadAt(ctx, ManifestKey, buf, 0); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return decodeManifest(buf)
}

// shardKeys maps the storage key of every shard version a store of
// man's model and fidelities must hold to its Key.
func shardKeys(man *Manifest) map[string]Key {
	keys := map[string]Key{}
	c := &man.Config
	for l := range c.Layers {
		for h := range c.Heads {
			for _, p := range []Part{Attention, FFN} {
				for _, f := range man.Fidelities {
					k := Key{l, h, p, f}
					keys[k.String()] = k
				}
			}
		}
	}
	return keys
}

// checkContents checks what a blob's CRC cannot: every word row's own CRC
// (the word blob has no whole-blob CRC) and that the blobs the model
// reads decode for its shapes. ReadBlob has checked the rest.
func (s *Store) checkContents(key string, blob []byte, shards map[string]Key, r *VerifyReport) error {
	c := &s.man.Config
	switch key {
	case WordKey:
		rec := s.man.WordRowBytes
		if len(blob) != c.VocabSize*rec {
			return fmt.Errorf("%d bytes, want %d rows of %d", len(blob), c.VocabSize, rec)
		}
		row := make([]float32, c.Hidden)
		var errs []error
		for id := range c.VocabSize {
			r.WordRows++
			if err := decodeWordRow(row, blob[id*rec:(id+1)*rec], id); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 3 {
			errs = append(errs[:3], fmt.Errorf("and %d more rows", len(errs)-3))
		}
		return errors.Join(errs...)
	case ResidentKey:
		m := &bert.Model{Config: c}
		return decodeResident(blob, m)
	case PositionKey:
		_, err := bytesFloats(blob, c.MaxPosition*c.Hidden, PositionKey)
		return err
	}
	if k, ok := shards[key]; ok {
		_, err := s.DecodeShard(k, blob)
		return err
	}
	return nil // an extra blob, such as a legacy profile: its CRC is all there is
}
