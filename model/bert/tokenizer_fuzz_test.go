package bert

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wrxlabs/wrx/internal/shared"
)

// fuzzTokenizer uses the bert-base-uncased vocabulary from ../shared when it
// is there, so that WordPiece meets real pieces, and the small test
// vocabulary otherwise, so that the seed corpus always runs.
func fuzzTokenizer(f *testing.F) *Tokenizer {
	if d := shared.Dir(); d != "" {
		if v, err := LoadVocab(filepath.Join(d, "fixtures", "tokenizer", VocabFile)); err == nil {
			tok, err := newTokenizer(v, TokenizerOptions{})
			if err != nil {
				f.Fatal(err)
			}
			return tok
		}
	}
	tok, err := NewTokenizer(testVocab, TokenizerOptions{})
	if err != nil {
		f.Fatal(err)
	}
	return tok
}

// FuzzTokenizer checks the invariants of Encode on arbitrary text pairs: it
// never panics; ids are in the vocabulary; the sequence is [CLS] text [SEP]
// (pair [SEP]) within maxLen, with type ids 0 then 1; the kept ids are what
// Hugging Face's one-token-at-a-time longest_first loop keeps.
func FuzzTokenizer(f *testing.F) {
	tok := fuzzTokenizer(f)
	cls, _ := tok.TokenID(TokenCLS)
	sep, _ := tok.TokenID(TokenSEP)
	f.Fuzz(func(t *testing.T, text, pair string) {
		a := tokenIDs(t, tok, tok.Tokenize(text))
		b := tokenIDs(t, tok, tok.Tokenize(pair))
		for _, maxLen := range []int{1, 2, 3, 7, 128} {
			enc, err := tok.Encode(text, pair, maxLen)
			special := 2
			if pair != "" {
				special = 3
			}
			switch {
			case maxLen < special:
				if err == nil {
					t.Fatalf("Encode(%q, %q, %d) accepted a length that cannot hold the special tokens", text, pair, maxLen)
				}
				continue
			case len(a) == 0 || (pair != "" && len(b) == 0):
				if !errors.Is(err, ErrEmptyText) {
					t.Fatalf("Encode(%q, %q, %d) = %v, want ErrEmptyText", text, pair, maxLen, err)
				}
				continue
			case err != nil:
				t.Fatalf("Encode(%q, %q, %d): %v", text, pair, maxLen, err)
			}

			wantTokens := slices.Concat(tok.Tokenize(text), tok.Tokenize(pair))
			if !slices.Equal(enc.Tokens, wantTokens) {
				t.Fatalf("Encode(%q, %q).Tokens = %q, want Tokenize of each: %q", text, pair, enc.Tokens, wantTokens)
			}
			ids := enc.InputIDs
			if len(ids) > maxLen || len(ids) != len(enc.TokenTypeIDs) {
				t.Fatalf("Encode(%q, %q, %d): %d ids, %d type ids", text, pair, maxLen, len(ids), len(enc.TokenTypeIDs))
			}
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("Encode(%q, %q): id %d out of [0,%d)", text, pair, id, tok.VocabSize())
				}
			}

			// Hugging Face's loop, written independently of Encode.
			ka, kb := a, b
			if pair == "" {
				kb = nil
			}
			for len(ka)+len(kb) > maxLen-special {
				if pair == "" || len(ka) > len(kb) {
					ka = ka[:len(ka)-1]
				} else {
					kb = kb[:len(kb)-1]
				}
			}
			want := slices.Concat([]int{cls}, ka, []int{sep})
			wantTypes := make([]int, len(want))
			if pair != "" {
				want = slices.Concat(want, kb, []int{sep})
				for len(wantTypes) < len(want) {
					wantTypes = append(wantTypes, 1)
				}
			}
			if !slices.Equal(ids, want) || !slices.Equal(enc.TokenTypeIDs, wantTypes) {
				t.Fatalf("Encode(%q, %q, %d) = %v / %v, want %v / %v", text, pair, maxLen, ids, enc.TokenTypeIDs, want, wantTypes)
			}
		}
	})
}

// tokenIDs maps tokens back to ids, failing on any token not in the
// vocabulary or that is a sequence marker.
func tokenIDs(t *testing.T, tok *Tokenizer, toks []string) []int {
	t.Helper()
	ids := make([]int, len(toks))
	for i, s := range toks {
		id, ok := tok.TokenID(s)
		if !ok || s == TokenCLS || s == TokenSEP || s == TokenPAD {
			t.Fatalf("token %q is not an ordinary vocabulary token", s)
		}
		ids[i] = id
	}
	return ids
}
