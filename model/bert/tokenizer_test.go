package bert

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/internal/shared"
)

// goldenCase is one line of fixtures/tokenizer/golden.jsonl (the Python
// BertTokenizer) or hf-rust.jsonl (the Rust tokenizer), both bert-base-uncased.
type goldenCase struct {
	Text         string   `json:"text"`
	TextPair     *string  `json:"text_pair"`
	MaxLen       int      `json:"max_len"`
	Tokens       []string `json:"tokens"`
	InputIDs     []int    `json:"input_ids"`
	TokenTypeIDs []int    `json:"token_type_ids"`
}

// readGolden reads a golden file, failing tb on any error, an empty file or
// an empty text_pair (which Encode cannot tell apart from no pair).
func readGolden(tb testing.TB, path string) []goldenCase {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var cases []goldenCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		var c goldenCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			tb.Fatalf("%s:%d: %v", path, line, err)
		}
		if c.TextPair != nil && *c.TextPair == "" {
			tb.Fatalf("%s:%d: an empty text_pair cannot be told apart from no pair", path, line)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	if len(cases) == 0 {
		tb.Fatalf("%s has no cases", path)
	}
	return cases
}

func (c goldenCase) pair() string {
	if c.TextPair == nil {
		return ""
	}
	return *c.TextPair
}

// TestTokenizerGolden checks every case of each reference file, tokens,
// ids and type ids, under the truncation of the tokenizer that made it, and
// counts the cases the other truncation gets wrong: 21 pairs of hf-rust.jsonl
// where both sequences reach the length limit (so the Python rule is
// tested there), none of golden.jsonl, whose pairs never need the extra
// token (the Python rule is tested by TestEncode).
func TestTokenizerGolden(t *testing.T) {
	tests := []struct {
		file         string
		trunc, other Truncation
		otherMisses  int
	}{
		{"golden.jsonl", TruncatePython, TruncateRust, 0},
		{"hf-rust.jsonl", TruncateRust, TruncatePython, 21},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := shared.Path(t, "fixtures", "tokenizer", tc.file)
			loaded, err := LoadTokenizer(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			if !loaded.LowerCase() || loaded.Options().Truncation != TruncateRust {
				t.Fatalf("tokenizer without tokenizer_config.json: LowerCase() = %v, Truncation = %v; want true, rust", loaded.LowerCase(), loaded.Options().Truncation)
			}
			tok, err := loaded.WithTruncation(tc.trunc)
			if err != nil {
				t.Fatal(err)
			}
			other, err := loaded.WithTruncation(tc.other)
			if err != nil {
				t.Fatal(err)
			}
			cases := readGolden(t, path)
			var bad, empty, otherBad int
			for i, c := range cases {
				line, pair := i+1, c.pair()
				want := Encoding{Tokens: c.Tokens, InputIDs: c.InputIDs, TokenTypeIDs: c.TokenTypeIDs}
				opts := EncodeOptions{MaxLen: c.MaxLen, AllowEmpty: true}
				got, err := tok.EncodeWith(c.Text, pair, opts)
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
				if o, err := other.EncodeWith(c.Text, pair, opts); err != nil || !cmp.Equal(want, o) {
					otherBad++
				}
				// The strict path must agree wherever it does not refuse.
				strict, err := tok.Encode(c.Text, pair, c.MaxLen)
				if len(tok.Tokenize(c.Text)) == 0 || (pair != "" && len(tok.Tokenize(pair)) == 0) {
					empty++
					if !errors.Is(err, ErrEmptyText) {
						t.Errorf("%s:%d: Encode(%q, %q) = %v, want ErrEmptyText", path, line, c.Text, pair, err)
					}
				} else if err != nil || !cmp.Equal(strict, got) {
					t.Errorf("%s:%d: Encode differs from EncodeWith: %v", path, line, err)
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d cases differ under %v truncation", bad, len(cases), tc.trunc)
			}
			if bad == 0 && otherBad != tc.otherMisses {
				t.Errorf("%v truncation misses %d cases, want %d", tc.other, otherBad, tc.otherMisses)
			}
			t.Logf("%s: %d/%d cases match under %v truncation (%d with an empty text or pair); %v truncation would miss %d",
				tc.file, len(cases)-bad, len(cases), tc.trunc, empty, tc.other, otherBad)
		})
	}
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
	// Both behaviours unless a case names one.
	const both Truncation = -1
	tests := []struct {
		name       string
		trunc      Truncation
		text, pair string
		maxLen     int
		ids, types []int
	}{
		{"single", both, "a b", "", 0, []int{cls, a, b, sep}, []int{0, 0, 0, 0}},
		{"single truncated", both, "a a a a a", "", 4, []int{cls, a, a, sep}, []int{0, 0, 0, 0}},
		{"single at two keeps only specials", both, "a b", "", 2, []int{cls, sep}, []int{0, 0}},
		{"pair", both, "a", "b b", 0, []int{cls, a, sep, b, b, sep}, []int{0, 0, 0, 1, 1, 1}},
		{"pair fits exactly", both, "a", "b b", 6, []int{cls, a, sep, b, b, sep}, []int{0, 0, 0, 1, 1, 1}},
		// 5+2 tokens into 3: Python cuts the first to 2, then the tie
		// costs the second one; Rust keeps 3/2 = 1 of the shorter.
		{"longer first is cut", both, "a a a a a", "b b", 6, []int{cls, a, a, sep, b, sep}, []int{0, 0, 0, 0, 1, 1}},
		{"longer second is cut", both, "x", "b b b b", 6, []int{cls, x, sep, b, b, sep}, []int{0, 0, 0, 1, 1, 1}},
		{"even tie", both, "a a a", "b b b", 7, []int{cls, a, a, sep, b, b, sep}, []int{0, 0, 0, 0, 1, 1, 1}},
		{"odd budget, first longer", both, "a a a a", "b b b", 6, []int{cls, a, a, sep, b, sep}, []int{0, 0, 0, 0, 1, 1}},
		// The extra token of an odd budget: Python gives it to the first,
		// Rust to the longer, the second on a tie.
		{"odd tie, Python", TruncatePython, "a a a", "b b b", 6, []int{cls, a, a, sep, b, sep}, []int{0, 0, 0, 0, 1, 1}},
		{"odd tie, Rust", TruncateRust, "a a a", "b b b", 6, []int{cls, a, sep, b, b, sep}, []int{0, 0, 0, 1, 1, 1}},
		{"odd budget, second longer, Python", TruncatePython, "a a a", "b b b b", 6, []int{cls, a, a, sep, b, sep}, []int{0, 0, 0, 0, 1, 1}},
		{"odd budget, second longer, Rust", TruncateRust, "a a a", "b b b b", 6, []int{cls, a, sep, b, b, sep}, []int{0, 0, 0, 1, 1, 1}},
		// Rust stops tokenizing a sequence after the word that takes it
		// to maxLen (6) tokens: 8 a's count as 6, and "b b b b
		// unaffable" (4 + 3 pieces) as 7, so the second is the longer.
		{"Rust compares lengths up to the limit", TruncateRust, "a a a a a a a a", "b b b b unaffable", 6, []int{cls, a, sep, b, b, sep}, []int{0, 0, 0, 1, 1, 1}},
		{"Python compares whole lengths", TruncatePython, "a a a a a a a a", "b b b b unaffable", 6, []int{cls, a, a, sep, b, sep}, []int{0, 0, 0, 0, 1, 1}},
		// Both stop at exactly 6: a tie, though the first is longer.
		{"both at the limit tie in Rust", TruncateRust, "a a a a a a a a", "b b b b b b b", 6, []int{cls, a, sep, b, b, sep}, []int{0, 0, 0, 1, 1, 1}},
		{"the word that crosses the limit counts whole", TruncateRust, "a a a a unaffable", "b b b b b b b", 6, []int{cls, a, a, sep, b, sep}, []int{0, 0, 0, 0, 1, 1}},
		{"pair at three keeps only specials", both, "a a", "b", 3, []int{cls, sep, sep}, []int{0, 0, 1}},
	}
	rust := newTestTokenizer(t, TokenizerOptions{})
	python := newTestTokenizer(t, TokenizerOptions{Truncation: TruncatePython})
	for _, tc := range tests {
		for _, tok := range []*Tokenizer{rust, python} {
			mode := tok.Options().Truncation
			if tc.trunc != both && tc.trunc != mode {
				continue
			}
			t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
				got, err := tok.Encode(tc.text, tc.pair, tc.maxLen)
				if err != nil {
					t.Fatal(err)
				}
				want := Encoding{Tokens: slices.Concat(tok.Tokenize(tc.text), tok.Tokenize(tc.pair)), InputIDs: tc.ids, TokenTypeIDs: tc.types}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("Encode(%q, %q, %d) (-want +got):\n%s", tc.text, tc.pair, tc.maxLen, d)
				}
			})
		}
	}
}

func TestTruncation(t *testing.T) {
	tests := []struct {
		name string
		mode Truncation
	}{
		{"rust", TruncateRust},
		{"python", TruncatePython},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.mode.String(); got != tc.name {
				t.Errorf("String() = %q, want %q", got, tc.name)
			}
			m, err := ParseTruncation(tc.name)
			if err != nil || m != tc.mode {
				t.Errorf("ParseTruncation(%q) = %v, %v; want %v", tc.name, m, err, tc.mode)
			}
		})
	}
	if _, err := ParseTruncation("fast"); err == nil || !strings.Contains(err.Error(), `"fast"`) {
		t.Errorf("ParseTruncation(fast) = %v, want an error naming it", err)
	}
	if _, err := NewTokenizer(testVocab, TokenizerOptions{Truncation: 2}); err == nil || !strings.Contains(err.Error(), "truncation") {
		t.Errorf("NewTokenizer with truncation mode 2 = %v, want an error naming the truncation", err)
	}

	// WithTruncation copies: the original keeps its mode.
	rust := newTestTokenizer(t, TokenizerOptions{KeepCase: true})
	python, err := rust.WithTruncation(TruncatePython)
	if err != nil {
		t.Fatal(err)
	}
	want := TokenizerOptions{KeepCase: true, Truncation: TruncatePython}
	if d := cmp.Diff(want, python.Options()); d != "" {
		t.Errorf("WithTruncation(TruncatePython).Options() (-want +got):\n%s", d)
	}
	if rust.Options().Truncation != TruncateRust {
		t.Errorf("WithTruncation changed the original to %v", rust.Options().Truncation)
	}
	if _, err := rust.WithTruncation(-1); err == nil {
		t.Error("WithTruncation(-1) succeeded")
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
