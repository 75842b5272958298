package shardstore

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/model/synth"
	"github.com/wrxlabs/wrx/quant"
)

// fuzzConfig is a two-head model small enough that its shard blobs make
// quick fuzz seeds.
func fuzzConfig() *bert.Config {
	return &bert.Config{ModelType: bert.TypeBERT, VocabSize: 16, Hidden: 16, Layers: 1, Heads: 2, Intermediate: 32,
		MaxPosition: 8, TypeVocab: 2, LayerNormEps: 1e-12, Activation: "gelu", Labels: []string{"a", "b"}}
}

// FuzzManifest feeds arbitrary bytes to the manifest decoder, and each
// input again with its JSON checksum re-sealed so that the fuzzer reaches
// the JSON and the checks behind it. It must not panic; an accepted
// manifest must validate, re-encode to one that decodes equal, and give a
// tokenizer or a clear error (Store.Tokenizer builds one from it).
func FuzzManifest(f *testing.F) {
	man := &Manifest{Format: FormatVersion, Config: *fuzzConfig(), Vocab: []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"},
		Fidelities: []quant.Fidelity{4, 32}, WordRowBytes: 4 + 4*16,
		Blobs: map[string]Blob{"resident": {Size: 10, CRC: 3}, "L00/H00/attn/4": {Size: 100, CRC: 9}}}
	b, err := encodeManifest(man)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("WRXM\x02\x00\x00\x00\x00\x00\x00\x00{}"))
	f.Add([]byte("WRXM"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkManifest(t, b)
		if len(b) >= 12 {
			c := append([]byte(nil), b...)
			binary.LittleEndian.PutUint32(c[8:], Checksum(c[12:]))
			checkManifest(t, c)
		}
	})
}

func checkManifest(t *testing.T, b []byte) {
	m, err := decodeManifest(b)
	if err != nil {
		return
	}
	if err := m.Config.Validate(); err != nil {
		t.Fatalf("accepted manifest's config does not validate: %v", err)
	}
	enc, err := encodeManifest(m)
	if err != nil {
		t.Fatalf("accepted manifest does not encode: %v", err)
	}
	again, err := decodeManifest(enc)
	if err != nil || !reflect.DeepEqual(again, m) {
		t.Fatalf("re-encoded manifest decodes to %+v, %v; want %+v", again, err, m)
	}
	if tok, err := bert.NewTokenizer(m.Vocab, m.Tokenizer); err == nil && tok.VocabSize() != len(m.Vocab) {
		t.Fatalf("tokenizer of %d tokens from a vocabulary of %d", tok.VocabSize(), len(m.Vocab))
	}
}

// FuzzDecodeShard feeds arbitrary bytes to the shard blob decoders
// (DecodeAttention, DecodeFFN), seeded with real blobs at every fidelity.
// They must not panic; a decoded shard must have the config's shapes and
// decode every row of every matrix without panicking.
func FuzzDecodeShard(f *testing.F) {
	c := fuzzConfig()
	m, err := synth.Model(c, 1)
	if err != nil {
		f.Fatal(err)
	}
	for _, fid := range quant.AllFidelities() {
		a, err := EncodeAttention(m.Layers[0].Attention[0], fid)
		if err != nil {
			f.Fatal(err)
		}
		ffn, err := EncodeFFN(m.Layers[0].FFN[1], fid)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(a)
		f.Add(ffn)
	}
	f.Fuzz(func(t *testing.T, blob []byte) {
		if sh, err := DecodeAttention(blob, c); err == nil {
			for _, mx := range []interface {
				Dims() (int, int)
				DecodeRows([]float32, int, int)
			}{sh.Query, sh.Key, sh.Value, sh.Output} {
				n, k := mx.Dims()
				mx.DecodeRows(make([]float32, n*k), 0, n)
			}
			if len(sh.QueryBias) != c.HeadDim() || len(sh.KeyBias) != c.HeadDim() || len(sh.ValueBias) != c.HeadDim() {
				t.Fatalf("attention biases of %d, %d, %d values", len(sh.QueryBias), len(sh.KeyBias), len(sh.ValueBias))
			}
		}
		if sh, err := DecodeFFN(blob, c); err == nil {
			for _, mx := range []interface {
				Dims() (int, int)
				DecodeRows([]float32, int, int)
			}{sh.Up, sh.Down} {
				n, k := mx.Dims()
				mx.DecodeRows(make([]float32, n*k), 0, n)
			}
			if len(sh.UpBias) != c.FFNSlice() {
				t.Fatalf("ffn up bias of %d values, want %d", len(sh.UpBias), c.FFNSlice())
			}
		}
	})
}
