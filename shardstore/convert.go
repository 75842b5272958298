package shardstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/storage"
)

// ConvertOptions tunes Convert. The zero value writes every fidelity using
// all CPUs.
type ConvertOptions struct {
	// Fidelities to store every shard at; nil means quant.AllFidelities().
	Fidelities []quant.Fidelity
	// Workers encoding shards in parallel; 0 means GOMAXPROCS.
	Workers int
	// Progress, if set, is called after each blob is written with the
	// number written and the total.
	Progress func(done, total int)
	// Source is recorded in the manifest (e.g. the model directory).
	Source string
	// Synthetic marks random weights (see Manifest.Synthetic).
	Synthetic bool
	// Overwrite replaces an existing store at the URI (atomically).
	Overwrite bool
}

// Convert writes m as a new store at uri and commits it. On any error,
// including a cancelled ctx, nothing is committed and the writer's
// temporary files are removed: no store appears that opens.
func Convert(ctx context.Context, uri string, m *bert.Model, tok *bert.Tokenizer, opts ConvertOptions) error {
	w, err := storage.Create(ctx, uri, storage.CreateOptions{Overwrite: opts.Overwrite})
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	if err := Write(ctx, w, m, tok, opts); err != nil {
		w.Abort()
		return err
	}
	if err := w.Commit(ctx); err != nil {
		w.Abort()
		return fmt.Errorf("convert: commit %s: %w", uri, err)
	}
	return nil
}

// Write puts every blob of m into w, the manifest last. It does not commit.
func Write(ctx context.Context, w storage.Writer, m *bert.Model, tok *bert.Tokenizer, opts ConvertOptions) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	for _, l := range m.Layers {
		for h := range l.Attention {
			if l.Attention[h] == nil || l.FFN[h] == nil {
				return fmt.Errorf("convert: model has absent shards; convert needs a complete model")
			}
		}
	}
	word, ok := m.Embeddings.Word.(*bert.DenseWordEmbeddings)
	if !ok {
		return fmt.Errorf("convert: word embeddings are %T, want an in-memory table", m.Embeddings.Word)
	}
	fids := opts.Fidelities
	if fids == nil {
		fids = quant.AllFidelities()
	}
	for _, f := range fids {
		if !f.Valid() {
			return fmt.Errorf("convert: fidelity %d is not one of %v", int(f), quant.AllFidelities())
		}
	}
	c := m.Config
	man := &Manifest{
		Format: FormatVersion, Config: *c, Vocab: tok.Vocab(), Tokenizer: tok.Options(),
		Fidelities: fids, WordRowBytes: 4 + 4*c.Hidden, Synthetic: opts.Synthetic, Source: opts.Source,
		Blobs: map[string]Blob{},
	}
	total := 3 + 2*c.Layers*c.Heads*len(fids) + 1
	done := 0
	put := func(key string, b []byte, crc uint32) error {
		if err := w.Put(ctx, key, b); err != nil {
			return fmt.Errorf("convert: write %s: %w", key, err)
		}
		man.Blobs[key] = Blob{Size: int64(len(b)), CRC: crc}
		done++
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
		return nil
	}
	pos := floatBytes(m.Embeddings.Position)
	if err := put(PositionKey, pos, Checksum(pos)); err != nil {
		return err
	}
	rows := wordRecords(word, c.Hidden)
	if err := put(WordKey, rows, 0); err != nil {
		return err
	}
	res := encodeResident(m)
	if err := put(ResidentKey, res, Checksum(res)); err != nil {
		return err
	}
	if err := writeShards(ctx, m, fids, opts.Workers, put); err != nil {
		return err
	}
	mb, err := encodeManifest(man)
	if err != nil {
		return err
	}
	if err := w.Put(ctx, ManifestKey, mb); err != nil {
		return fmt.Errorf("convert: write manifest: %w", err)
	}
	if opts.Progress != nil {
		opts.Progress(total, total)
	}
	return nil
}

// wordRecords lays the word table out as row records: CRC32C, then the row.
func wordRecords(e *bert.DenseWordEmbeddings, hidden int) []byte {
	rec := 4 + 4*hidden
	vocab := len(e.Data) / hidden
	b := make([]byte, vocab*rec)
	for r := range vocab {
		out := b[r*rec : (r+1)*rec]
		for j, v := range e.Data[r*hidden : (r+1)*hidden] {
			binary.LittleEndian.PutUint32(out[4+4*j:], math.Float32bits(v))
		}
		binary.LittleEndian.PutUint32(out, Checksum(out[4:]))
	}
	return b
}

// putOrder is the order Convert puts shard versions in, and so, for
// stores that lay blobs out in put order (storage/flatfile), their layout:
// by layer, then fidelity, then part, then head. A layer's blobs at one
// fidelity, attention parts then FFN parts, head by head, are one
// contiguous range, which the layerwise baseline reads with one read; and
// a plan's run of heads at one fidelity within a part is contiguous too,
// which the executor reads with one read (ExecOptions.MaxReadBytes).
// Stores converted before kept (layer, head, part, fidelity) order: they
// read the same, only without merged reads.
func putOrder(layers, heads int, fids []quant.Fidelity) []Key {
	keys := make([]Key, 0, layers*len(fids)*2*heads)
	for l := range layers {
		for _, f := range fids {
			for _, part := range []Part{Attention, FFN} {
				for h := range heads {
					keys = append(keys, Key{Layer: l, Head: h, Part: part, Fidelity: f})
				}
			}
		}
	}
	return keys
}

type encoded struct {
	key  Key
	blob []byte
	err  error
}

// writeShards encodes shard versions on several goroutines and puts them
// from this one, in putOrder, since a Writer is single-goroutine.
func writeShards(ctx context.Context, m *bert.Model, fids []quant.Fidelity, workers int, put func(string, []byte, uint32) error) error {
	c := m.Config
	keys := putOrder(c.Layers, c.Heads, fids)
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Each key gets its own result channel so blobs are put in order
	// while at most workers+len(window) are held in memory.
	results := make([]chan encoded, len(keys))
	for i := range results {
		results[i] = make(chan encoded, 1)
	}
	sem := make(chan struct{}, workers*2)
	// The launcher and every encoder are counted, so that on return
	// (after cancel, deferred last so it runs first) none is left and no
	// Add races with the Wait.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, k := range keys {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				for _, r := range results[i:] {
					r <- encoded{err: ctx.Err()}
				}
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := encodeKey(m, k)
				results[i] <- encoded{key: k, blob: b, err: err}
			}()
		}
	}()
	for i, k := range keys {
		var r encoded
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return fmt.Errorf("convert: %w", ctx.Err())
		}
		<-sem
		if r.err != nil {
			return fmt.Errorf("convert: encode %s: %w", k.Describe(), r.err)
		}
		if err := put(k.String(), r.blob, Checksum(r.blob)); err != nil {
			return err
		}
	}
	return nil
}

func encodeKey(m *bert.Model, k Key) ([]byte, error) {
	l := &m.Layers[k.Layer]
	if k.Part == Attention {
		return EncodeAttention(l.Attention[k.Head], k.Fidelity)
	}
	return EncodeFFN(l.FFN[k.Head], k.Fidelity)
}
