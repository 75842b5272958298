package bert

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/internal/shared"
)

// goldenCase is one line of fixtures/tokenizer/golden.jsonl, produced by the
// Hugging Face BERT uncased tokenizer.
type goldenCase struct {
	Text         string   `json:"text"`
	TextPair     *string  `json:"text_pair"`
	MaxLen       int      `json:"max_len"`
	Tokens       []string `json:"tokens"`
	InputIDs     []int    `json:"input_ids"`
	TokenTypeIDs []int    `json:"token_type_ids"`
}

func TestTokenizerGolden(t *testing.T) {
	path := shared.Path(t, "fixtures", "tokenizer", "golden.jsonl")
	tok, err := LoadTokenizer(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if !tok.LowerCase() {
		t.Fatal("tokenizer without tokenizer_config.json must lowercase")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
	var n, bad, empty int
	for line := 1; sc.Scan(); line++ {
		var c goldenCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		n++
		pair := ""
		if c.TextPair != nil {
			pair = *c.TextPair
			if pair == "" {
				t.Fatalf("%s:%d: an empty text_pair cannot be told apart from no pair", path, line)
			}
		}
		want := Encoding{Tokens: c.Tokens, InputIDs: c.InputIDs, TokenTypeIDs: c.TokenTypeIDs}
		got, err := tok.EncodeWith(c.Text, pair, EncodeOptions{MaxLen: c.MaxLen, AllowEmpty: true})
		if err != nil {
			t.Errorf("%s:%d: %v", path, line, err)
			bad++
			continue
		}
		if d := cmp.Diff(want, got); d != "" {
			bad++
			if bad <= 5 {
				t.Errorf("%s:%d: text %q pair %q (-want +got):\n%s", path, line, c.Text, pair, d)
			}
			continue
		}
		// The strict path must agree wherever it does not refuse.
		strict, err := tok.Encode(c.Text, pair, c.MaxLen)
		if len(c.Tokens) == 0 {
			empty++
			if !errors.Is(err, ErrEmptyText) {
				t.Errorf("%s:%d: Encode(%q) = %v, want ErrEmptyText", path, line, c.Text, err)
			}
		} else if err != nil || !cmp.Equal(strict, got) {
			t.Errorf("%s:%d: Encode differs from EncodeWith: %v", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("%s has no cases", path)
	}
	if bad > 0 {
		t.Errorf("%d of %d golden cases differ", bad, n)
	}
	t.Logf("%d golden cases (%d without tokens), %d mismatches", n, empty, bad)
}

// testVocab is small enough that every expected tokenization below can be
// worked out by hand from the algorithm.
var testVocab = []string{
	"[PAD]", "[UNK]", "[CLS]", "[SEP]",
	"hello", "world", ",", "!", "-", "'", "«", "»", ".",
	"un", "##aff", "##able", "cafe", "naive", "café",
	"東", "京", "は",
	"a", "##a", "b", "##b", "abc", "i", "x", "y", "z",
	"ο", "##δ", "##ο", "##ς", "##σ",
	"Hello", "ﬁ", "ecole",
}

func newTestTokenizer(t *testing.T, opts TokenizerOptions) *Tokenizer {
	t.Helper()
	tok, err := NewTokenizer(testVocab, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenize(t *testing.T) {
	long := func(n int) (string, []string) {
		want := []string{"a"}
		for len(want) < n {
			want = append(want, "##a")
		}
		return strings.Repeat("a", n), want
	}
	a100, want100 := long(100)
	a101, _ := long(101)
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"punctuation split", "Hello, World!", []string{"hello", ",", "world", "!"}},
		{"wordpiece", "unaffable", []string{"un", "##aff", "##able"}},
		{"accents stripped after lowercasing", "Naïve CAFÉ", []string{"naive", "cafe"}},
		{"decomposed accent", "cafe\u0301", []string{"cafe"}},
		{"accent on a capital", "ÉCOLE", []string{"ecole"}},
		{"dotted capital I lowercases to i plus a dropped mark", "İ", []string{"i"}},
		{"final sigma", "ΟΔΟΣ", []string{"ο", "##δ", "##ο", "##ς"}},
		{"medial sigma", "ΟΣΟ", []string{"ο", "##σ", "##ο"}},
		{"sigma before a case-ignorable then end", "ΟΣ'", []string{"ο", "##ς", "'"}},
		{"CJK ideographs are isolated, kana is not", "x東京はy", []string{"x", "東", "京", "[UNK]"}},
		{"NUL is dropped, not a separator", "hel\x00lo", []string{"hello"}},
		{"U+FFFD is dropped", "hel\ufffdlo", []string{"hello"}},
		{"invalid UTF-8 is dropped", "hel\xfflo", []string{"hello"}},
		{"zero-width space (Cf) is dropped", "hel\u200blo", []string{"hello"}},
		{"soft hyphen (Cf) is dropped", "hel\u00adlo", []string{"hello"}},
		{"vertical tab (Cc) is dropped", "hel\vlo", []string{"hello"}},
		{"unassigned code point (Cn) is dropped", "hel\u0378lo", []string{"hello"}},
		{"private use (Co) is dropped", "hel\ue000lo", []string{"hello"}},
		{"tab, newline, CR separate", "a\tb\nx\r\ny", []string{"a", "b", "x", "y"}},
		{"no-break space separates", "a\u00a0b", []string{"a", "b"}},
		{"ideographic space separates", "a\u3000b", []string{"a", "b"}},
		{"line separator separates", "a\u2028b", []string{"a", "b"}},
		{"unicode punctuation", "«a»", []string{"«", "a", "»"}},
		{"ASCII symbols are punctuation", "a-b.c", []string{"a", "-", "b", ".", "[UNK]"}},
		{"special tokens in text are plain text", "[PAD]", []string{"[UNK]", "[UNK]", "[UNK]"}},
		{"unmatched remainder makes the whole word unknown", "abx", []string{"[UNK]"}},
		{"greedy longest match", "abcab", []string{"abc", "##a", "##b"}},
		{"compatibility ligature is kept by NFC", "ﬁ", []string{"ﬁ"}},
		{"100 characters run WordPiece", a100, want100},
		{"101 characters are unknown", a101, []string{"[UNK]"}},
		{"empty", "", nil},
		{"only whitespace and controls", " \t\x00\u200b\n ", nil},
	}
	tok := newTestTokenizer(t, TokenizerOptions{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, tok.Tokenize(tc.text)); d != "" {
				t.Errorf("Tokenize(%q) (-want +got):\n%s", tc.text, d)
			}
		})
	}
}

func TestTokenizeOptions(t *testing.T) {
	tests := []struct {
		name string
		opts TokenizerOptions
		text string
		want []string
	}{
		{"keep case", TokenizerOptions{KeepCase: true}, "Hello hello", []string{"Hello", "hello"}},
		{"keep case keeps accents", TokenizerOptions{KeepCase: true}, "café", []string{"café"}},
		{"keep case composes with NFC", TokenizerOptions{KeepCase: true}, "cafe\u0301", []string{"café"}},
		{"keep case, strip accents", TokenizerOptions{KeepCase: true, Accents: AccentsStrip}, "café", []string{"cafe"}},
		{"lowercase, keep accents", TokenizerOptions{Accents: AccentsKeep}, "CAFÉ", []string{"café"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := newTestTokenizer(t, tc.opts)
			if d := cmp.Diff(tc.want, tok.Tokenize(tc.text)); d != "" {
				t.Errorf("Tokenize(%q) (-want +got):\n%s", tc.text, d)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	// Ids in testVocab: [CLS]=2 [SEP]=3 a=22 b=24 x=28.
	const cls, sep, a, b, x = 2, 3, 22, 24, 28
	tests := []struct {
		name       string
		text, pair string
		maxLen     int
		ids, types []int
	}{
		{"single", "a b", "", 0, []int{cls, a, b, sep}, []int{0, 0, 0, 0}},
		{"single truncated", "a a a a a", "", 4, []int{cls, a, a, sep}, []int{0, 0, 0, 0}},
		{"single at two keeps only specials", "a b", "", 2, []int{cls, sep}, []int{0, 0}},
		{"pair", "a", "b b", 0, []int{cls, a, sep, b, b, sep}, []int{0, 0, 0, 1, 1, 1}},
		{"pair fits exactly", "a", "b b", 6, []int{cls, a, sep, b, b, sep}, []int{0, 0, 0, 1, 1, 1}},
		// 5+2 tokens into 3: the first loses 3 to reach 2, then the tie
		// costs the second one.
		{"longer first is cut", "a a a a a", "b b", 6, []int{cls, a, a, sep, b, sep}, []int{0, 0, 0, 0, 1, 1}},
		{"longer second is cut", "x", "b b b b", 6, []int{cls, x, sep, b, b, sep}, []int{0, 0, 0, 1, 1, 1}},
		// 3+3 into 4: tie cuts the second, then the first is longer.
		{"even tie", "a a a", "b b b", 7, []int{cls, a, a, sep, b, b, sep}, []int{0, 0, 0, 0, 1, 1, 1}},
		// 3+3 into 3: second, first, second.
		{"odd tie favours the first", "a a a", "b b b", 6, []int{cls, a, a, sep, b, sep}, []int{0, 0, 0, 0, 1, 1}},
		{"pair at three keeps only specials", "a a", "b", 3, []int{cls, sep, sep}, []int{0, 0, 1}},
	}
	tok := newTestTokenizer(t, TokenizerOptions{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tok.Encode(tc.text, tc.pair, tc.maxLen)
			if err != nil {
				t.Fatal(err)
			}
			// Every word here is a single vocabulary token.
			want := Encoding{Tokens: strings.Fields(tc.text + " " + tc.pair), InputIDs: tc.ids, TokenTypeIDs: tc.types}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("Encode(%q, %q, %d) (-want +got):\n%s", tc.text, tc.pair, tc.maxLen, d)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tok := newTestTokenizer(t, TokenizerOptions{})
	tests := []struct {
		name, text, pair string
		maxLen           int
		empty            bool   // wraps ErrEmptyText
		mention          string // the message names the problem
	}{
		{"empty text", "", "", 0, true, "text"},
		{"whitespace text", " \t\n", "", 0, true, "text"},
		{"control and zero-width only", "\x00\u200b\ufeff", "", 0, true, "text"},
		{"empty text with a pair", "", "a", 0, true, "text"},
		{"whitespace pair", "a", "  ", 0, true, "text pair"},
		{"max length 1", "a", "", 1, false, "max length 1"},
		{"max length 2 for a pair", "a", "b", 2, false, "max length 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tok.Encode(tc.text, tc.pair, tc.maxLen)
			if err == nil {
				t.Fatalf("Encode(%q, %q, %d) succeeded", tc.text, tc.pair, tc.maxLen)
			}
			if errors.Is(err, ErrEmptyText) != tc.empty {
				t.Errorf("errors.Is(%v, ErrEmptyText) = %v, want %v", err, !tc.empty, tc.empty)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
	// With AllowEmpty the Hugging Face encoding comes back.
	got, err := tok.EncodeWith("", "", EncodeOptions{AllowEmpty: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Encoding{Tokens: []string{}, InputIDs: []int{2, 3}, TokenTypeIDs: []int{0, 0}}, got); d != "" {
		t.Errorf("EncodeWith(\"\", AllowEmpty) (-want +got):\n%s", d)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadTokenizer(t *testing.T) {
	vocab := strings.Join(testVocab, "\n") + "\n"
	tests := []struct {
		name    string
		files   map[string]string
		lower   bool
		accents AccentMode
	}{
		{"no config lowercases", map[string]string{VocabFile: vocab}, true, AccentsDefault},
		{"config without the key lowercases", map[string]string{VocabFile: vocab, TokenizerConfigFile: `{"model_max_length": 512}`}, true, AccentsDefault},
		{"cased", map[string]string{VocabFile: vocab, TokenizerConfigFile: `{"do_lower_case": false}`}, false, AccentsDefault},
		{"uncased", map[string]string{VocabFile: vocab, TokenizerConfigFile: `{"do_lower_case": true, "strip_accents": null}`}, true, AccentsDefault},
		{"strip accents false", map[string]string{VocabFile: vocab, TokenizerConfigFile: `{"strip_accents": false}`}, true, AccentsKeep},
		{"CRLF vocabulary", map[string]string{VocabFile: strings.Join(testVocab, "\r\n") + "\r\n"}, true, AccentsDefault},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := LoadTokenizer(writeFiles(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			if tok.LowerCase() != tc.lower || tok.Options().Accents != tc.accents {
				t.Errorf("LowerCase() = %v, Accents = %d; want %v, %d", tok.LowerCase(), tok.Options().Accents, tc.lower, tc.accents)
			}
			if d := cmp.Diff(testVocab, tok.Vocab()); d != "" {
				t.Errorf("Vocab() (-want +got):\n%s", d)
			}
		})
	}
}

func TestLoadTokenizerErrors(t *testing.T) {
	vocab := strings.Join(testVocab, "\n") + "\n"
	tests := []struct {
		name    string
		files   map[string]string
		mention []string
	}{
		{"missing vocab", map[string]string{TokenizerConfigFile: `{}`}, []string{VocabFile}},
		{"empty vocab", map[string]string{VocabFile: ""}, []string{VocabFile, "empty"}},
		{"vocab of one newline", map[string]string{VocabFile: "\n"}, []string{VocabFile, "lacks"}},
		{"vocab without specials", map[string]string{VocabFile: "[PAD]\n[UNK]\nhello\n"}, []string{VocabFile, "[CLS]", "[SEP]"}},
		{"malformed config", map[string]string{VocabFile: vocab, TokenizerConfigFile: `{"do_lower_case": tru`}, []string{TokenizerConfigFile}},
		{"config of the wrong type", map[string]string{VocabFile: vocab, TokenizerConfigFile: `{"do_lower_case": "yes"}`}, []string{TokenizerConfigFile, "do_lower_case"}},
		{"unsupported setting", map[string]string{VocabFile: vocab, TokenizerConfigFile: `{"tokenize_chinese_chars": false}`}, []string{TokenizerConfigFile, "tokenize_chinese_chars"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadTokenizer(writeFiles(t, tc.files))
			if err == nil {
				t.Fatal("LoadTokenizer succeeded")
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
	t.Run("missing directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nope")
		_, err := LoadTokenizer(dir)
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("LoadTokenizer(%s) = %v, want an error naming the directory", dir, err)
		}
	})
	t.Run("empty vocab list", func(t *testing.T) {
		if _, err := NewTokenizer(nil, TokenizerOptions{}); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("NewTokenizer(nil) = %v, want an error saying the vocabulary is empty", err)
		}
	})
	t.Run("unknown accent mode", func(t *testing.T) {
		if _, err := NewTokenizer(testVocab, TokenizerOptions{Accents: 7}); err == nil {
			t.Error("NewTokenizer with accent mode 7 succeeded")
		}
	})
}

func TestVocab(t *testing.T) {
	// A duplicate maps to its last line, as in Hugging Face's load_vocab.
	v, err := NewVocab([]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "x", "x"})
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := v.ID("x"); !ok || id != 5 {
		t.Errorf("ID(x) = %d, %v; want 5, true", id, ok)
	}
	if tok, ok := v.Token(2); !ok || tok != "[CLS]" {
		t.Errorf("Token(2) = %q, %v; want [CLS], true", tok, ok)
	}
	if _, ok := v.Token(6); ok {
		t.Error("Token(6) found a token past the end")
	}
	if v.Len() != 6 {
		t.Errorf("Len() = %d, want 6", v.Len())
	}
}

func ExampleTokenizer_Encode() {
	tok, err := NewTokenizer([]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "!", "un", "##aff", "##able"}, TokenizerOptions{})
	if err != nil {
		panic(err)
	}
	enc, err := tok.Encode("Hello, unaffable world!", "", 0)
	if err != nil {
		panic(err)
	}
	fmt.Println(enc.Tokens)
	fmt.Println(enc.InputIDs)
	_, err = tok.Encode(" \t", "", 0)
	fmt.Println(errors.Is(err, ErrEmptyText))
	// Output:
	// [hello [UNK] un ##aff ##able world !]
	// [2 4 1 7 8 9 5 6 3]
	// true
}

// BenchmarkEncode encodes every golden text and pair, the SST-2, RTE, MRPC,
// QNLI and STS-B mix the classifier sees; it reports tokens per second.
func BenchmarkEncode(b *testing.B) {
	path := shared.Path(b, "fixtures", "tokenizer", "golden.jsonl")
	tok, err := LoadTokenizer(filepath.Dir(path))
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var cases []goldenCase
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var c goldenCase
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			b.Fatal(err)
		}
		if len(c.Tokens) > 0 {
			cases = append(cases, c)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	tokens := 0
	for i := 0; i < b.N; i++ {
		c := cases[i%len(cases)]
		pair := ""
		if c.TextPair != nil {
			pair = *c.TextPair
		}
		enc, err := tok.Encode(c.Text, pair, c.MaxLen)
		if err != nil {
			b.Fatal(err)
		}
		tokens += len(enc.Tokens)
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}
