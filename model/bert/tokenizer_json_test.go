package bert

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/internal/shared"
)

// bertBaseTokenizerJSON is bert-base-uncased's tokenizer.json as Hugging
// Face's Rust tokenizer writes it (scripts/hubfixtures/gen.sh).
var bertBaseTokenizerJSON = filepath.Join("testdata", "hf", "tokenizer", TokenizerJSONFile)

// TestTokenizerJSONGoldenParity checks that tokenizer.json gives the same
// tokenizer as vocab.txt (with no tokenizer_config.json, as in the shared
// fixture directory) and the same tokens, ids and type ids on every case of
// both golden files.
func TestTokenizerJSONGoldenParity(t *testing.T) {
	fromJSON, err := LoadTokenizerJSON(bertBaseTokenizerJSON)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file  string
		trunc Truncation
	}{{"golden.jsonl", TruncatePython}, {"hf-rust.jsonl", TruncateRust}} {
		t.Run(tc.file, func(t *testing.T) {
			path := shared.Path(t, "fixtures", "tokenizer", tc.file)
			fromVocab, err := LoadTokenizer(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(fromVocab.Vocab(), fromJSON.Vocab()); d != "" {
				t.Fatalf("vocabulary (-vocab.txt +tokenizer.json):\n%.2000s", d)
			}
			if fromVocab.Options() != fromJSON.Options() {
				t.Fatalf("options: vocab.txt %+v, tokenizer.json %+v", fromVocab.Options(), fromJSON.Options())
			}
			a, _ := fromVocab.WithTruncation(tc.trunc)
			b, _ := fromJSON.WithTruncation(tc.trunc)
			bad := 0
			cases := readGolden(t, path)
			for i, c := range cases {
				opts := EncodeOptions{MaxLen: c.MaxLen, AllowEmpty: true}
				want := Encoding{Tokens: c.Tokens, InputIDs: c.InputIDs, TokenTypeIDs: c.TokenTypeIDs}
				gotVocab, err1 := a.EncodeWith(c.Text, c.pair(), opts)
				gotJSON, err2 := b.EncodeWith(c.Text, c.pair(), opts)
				if err1 != nil || err2 != nil || !cmp.Equal(want, gotJSON) || !cmp.Equal(gotVocab, gotJSON) {
					bad++
					if bad <= 3 {
						t.Errorf("%s:%d: vocab.txt %v %v, tokenizer.json %v %v, golden %v", tc.file, i+1, gotVocab.InputIDs, err1, gotJSON.InputIDs, err2, want.InputIDs)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d cases differ", bad, len(cases))
			}
			t.Logf("%s: %d cases, the same ids from tokenizer.json as from vocab.txt and the golden file", tc.file, len(cases))
		})
	}
}

// copyTo copies files into dir.
func copyTo(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadTokenizerFallsBackToTokenizerJSON(t *testing.T) {
	dir := t.TempDir()
	copyTo(t, dir, map[string]string{TokenizerJSONFile: bertBaseTokenizerJSON})
	tok, err := LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.LowerCase() || tok.VocabSize() != 30522 {
		t.Errorf("LowerCase %v, VocabSize %d; want true, 30522", tok.LowerCase(), tok.VocabSize())
	}
	// tokenizer_config.json wins, as in BertTokenizerFast.
	if err := os.WriteFile(filepath.Join(dir, TokenizerConfigFile), []byte(`{"do_lower_case": false}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if tok, err = LoadTokenizer(dir); err != nil || tok.LowerCase() {
		t.Errorf("with do_lower_case false: %v, LowerCase %v; want a cased tokenizer", err, tok != nil && tok.LowerCase())
	}
	empty := t.TempDir()
	_, err = LoadTokenizer(empty)
	if err == nil || !strings.Contains(err.Error(), "neither vocab.txt nor tokenizer.json exists") || !strings.Contains(err.Error(), empty) {
		t.Errorf("LoadTokenizer of an empty directory: %v", err)
	}
}

// TestTokenizerJSONMaxLength reads the truncation of a tokenizer.json
// saved with max_length 128: no encoding is longer, whatever Encode is
// asked for.
func TestTokenizerJSONMaxLength(t *testing.T) {
	tok, err := LoadTokenizerJSON(filepath.Join("testdata", "hf", "bert-regression", TokenizerJSONFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Options().MaxLen; got != 128 {
		t.Fatalf("MaxLen %d, want 128", got)
	}
	enc, err := tok.Encode(strings.Repeat("a charming journey ", 100), "", 512)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc.InputIDs) != 128 {
		t.Errorf("%d ids, want 128", len(enc.InputIDs))
	}
}

// smallTokenizerJSON is a valid tokenizer.json over testVocab, as a
// generic map that the refusal cases edit.
func smallTokenizerJSON() map[string]any {
	vocab := map[string]any{}
	for i, tok := range testVocab {
		vocab[tok] = i
	}
	special := func(tok string) map[string]any {
		return map[string]any{"SpecialToken": map[string]any{"id": tok, "type_id": 0}}
	}
	seq := func(id string, typ int) map[string]any {
		return map[string]any{"Sequence": map[string]any{"id": id, "type_id": typ}}
	}
	sep1 := map[string]any{"SpecialToken": map[string]any{"id": "[SEP]", "type_id": 1}}
	return map[string]any{
		"version":       "1.0",
		"truncation":    nil,
		"padding":       nil,
		"added_tokens":  []any{map[string]any{"id": 1, "content": "[UNK]", "special": true}},
		"normalizer":    map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": nil, "lowercase": true},
		"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{
			"type":   "TemplateProcessing",
			"single": []any{special("[CLS]"), seq("A", 0), special("[SEP]")},
			"pair":   []any{special("[CLS]"), seq("A", 0), special("[SEP]"), seq("B", 1), sep1},
			"special_tokens": map[string]any{
				"[CLS]": map[string]any{"id": "[CLS]", "ids": []int{2}, "tokens": []string{"[CLS]"}},
				"[SEP]": map[string]any{"id": "[SEP]", "ids": []int{3}, "tokens": []string{"[SEP]"}},
			},
		},
		"model": map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": vocab},
	}
}

func TestParseTokenizerJSON(t *testing.T) {
	parse := func(edit func(m map[string]any)) (*Tokenizer, error) {
		m := smallTokenizerJSON()
		if edit != nil {
			edit(m)
		}
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return ParseTokenizerJSON(data)
	}
	tok, err := parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := newTestTokenizer(t, TokenizerOptions{})
	for _, text := range []string{"Hello, world!", "unaffable café 東京", "ecole naïve"} {
		a, _ := want.Encode(text, "x y", 16)
		b, err := tok.Encode(text, "x y", 16)
		if err != nil || !cmp.Equal(a, b) {
			t.Errorf("%q: %v %v, want %v", text, b, err, a)
		}
	}
	// BertProcessing, no model type (old files) and cased with accents
	// kept parse too.
	tok, err = parse(func(m map[string]any) {
		m["post_processor"] = map[string]any{"type": "BertProcessing", "sep": []any{"[SEP]", 3}, "cls": []any{"[CLS]", 2}}
		delete(m["model"].(map[string]any), "type")
		m["normalizer"].(map[string]any)["lowercase"] = false
		m["normalizer"].(map[string]any)["strip_accents"] = false
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Options(); got != (TokenizerOptions{KeepCase: true, Accents: AccentsKeep}) {
		t.Errorf("options %+v, want cased with accents kept", got)
	}

	set := func(path string, v any) func(map[string]any) {
		return func(m map[string]any) {
			keys := strings.Split(path, ".")
			cur := m
			for _, k := range keys[:len(keys)-1] {
				cur = cur[k].(map[string]any)
			}
			cur[keys[len(keys)-1]] = v
		}
	}
	for _, c := range []struct {
		name        string
		edit        func(map[string]any)
		unsupported bool
		want        string
	}{
		{"BPE", set("model.type", "BPE"), true, "model type BPE: only WordPiece"},
		{"Unigram without a type", func(m map[string]any) { m["model"] = map[string]any{"vocab": []any{}} }, true, "only WordPiece"},
		{"unk token", set("model.unk_token", "<unk>"), true, `unk_token "<unk>"`},
		{"prefix", set("model.continuing_subword_prefix", "@@"), true, `continuing_subword_prefix "@@"`},
		{"word length", set("model.max_input_chars_per_word", 200), true, "max_input_chars_per_word 200"},
		{"sparse ids", set("model.vocab.hello", 500), false, `token "hello" has id 500`},
		{"no [CLS]", func(m map[string]any) {
			v := m["model"].(map[string]any)["vocab"].(map[string]any)
			delete(v, "[CLS]")
			v["zz"] = 2
		}, false, "lacks special token(s) [CLS]"},
		{"normalizer", set("normalizer", map[string]any{"type": "Sequence", "normalizers": []any{}}), true, "normalizer Sequence"},
		{"no normalizer", set("normalizer", nil), true, "no normalizer"},
		{"clean text", set("normalizer.clean_text", false), true, "clean_text false"},
		{"chinese chars", set("normalizer.handle_chinese_chars", false), true, "handle_chinese_chars false"},
		{"pre-tokenizer", set("pre_tokenizer", map[string]any{"type": "Whitespace"}), true, "pre_tokenizer Whitespace"},
		{"no post-processor", set("post_processor", nil), true, "no post_processor"},
		{"roberta", set("post_processor", map[string]any{"type": "RobertaProcessing"}), true, "post_processor RobertaProcessing"},
		{"template", set("post_processor.single", []any{}), true, "single template"},
		{"template ids", set("post_processor.special_tokens", map[string]any{}), false, "special token"},
		{"added word", set("added_tokens", []any{map[string]any{"id": 4, "content": "hello", "special": false}}), true, `added token "hello" is not special`},
		{"added token", set("added_tokens", []any{map[string]any{"id": 99, "content": "<new>", "special": true}}), true, `added token "<new>" (id 99)`},
		{"truncation", set("truncation", map[string]any{"strategy": "OnlyFirst", "max_length": 8, "direction": "Right"}), true, "strategy OnlyFirst"},
		{"left", set("truncation", map[string]any{"strategy": "LongestFirst", "max_length": 8, "direction": "Left"}), true, "direction Left"},
		{"max length", set("truncation", map[string]any{"strategy": "LongestFirst", "max_length": 2, "direction": "Right"}), false, "max_length 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parse(c.edit)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if errors.Is(err, ErrUnsupportedTokenizer) != c.unsupported {
				t.Errorf("errors.Is(%v, ErrUnsupportedTokenizer) = %v, want %v", err, !c.unsupported, c.unsupported)
			}
		})
	}
	if _, err := ParseTokenizerJSON([]byte("{")); err == nil || !strings.Contains(err.Error(), "malformed JSON") {
		t.Errorf("malformed file: %v", err)
	}
}
