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

// FuzzTokenizer checks the invariants of Encode on arbitrary text pairs,
// under both truncations: it never panics; ids are in the vocabulary; the
// sequence is [CLS] text [SEP] (pair [SEP]) within maxLen, with type ids 0
// then 1; the kept ids are prefixes of each sequence's ids. Under
// TruncatePython they are what the slow tokenizer's one-token-at-a-time
// longest_first loop keeps; under TruncateRust they are what the same loop
// keeps when ties cut the sequence that began shorter, which is the Rust
// rule whenever neither sequence reaches maxLen tokens (past that, its
// early exit makes the lengths it compares depend on word boundaries, and
// only the shares are checked).
func FuzzTokenizer(f *testing.F) {
	rust := fuzzTokenizer(f)
	python, err := rust.WithTruncation(TruncatePython)
	if err != nil {
		f.Fatal(err)
	}
	cls, _ := rust.TokenID(TokenCLS)
	sep, _ := rust.TokenID(TokenSEP)
	f.Fuzz(func(t *testing.T, text, pair string) {
		a := tokenIDs(t, rust, rust.Tokenize(text))
		b := tokenIDs(t, rust, rust.Tokenize(pair))
		for _, tok := range []*Tokenizer{rust, python} {
			mode := tok.Options().Truncation
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

				// The longest_first loop, written independently of Encode.
				budget := maxLen - special
				ka, kb := a, b
				if pair == "" {
					kb = nil
				}
				firstOnTie := mode == TruncateRust && len(a) <= len(b)
				for len(ka)+len(kb) > budget {
					if pair == "" || len(ka) > len(kb) || (len(ka) == len(kb) && firstOnTie) {
						ka = ka[:len(ka)-1]
					} else {
						kb = kb[:len(kb)-1]
					}
				}
				capped := mode == TruncateRust && pair != "" && len(a) >= maxLen && len(b) >= maxLen
				if capped {
					// Both are cut to budget/2 and budget - budget/2, in
					// an order that depends on where words end.
					if n := len(ids) - special; n != budget || min(len(ka), len(kb)) != budget/2 {
						t.Fatalf("Encode(%q, %q, %d): %d ids, want %d shared %d and %d", text, pair, maxLen, len(ids), budget+special, budget/2, budget-budget/2)
					}
					na := slices.Index(enc.TokenTypeIDs, 1) - 2
					if na < budget/2 || na > budget-budget/2 {
						t.Fatalf("Encode(%q, %q, %d) keeps %d of the first sequence, want %d or %d", text, pair, maxLen, na, budget/2, budget-budget/2)
					}
					ka, kb = a[:na], b[:budget-na]
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
					t.Fatalf("%v: Encode(%q, %q, %d) = %v / %v, want %v / %v", mode, text, pair, maxLen, ids, enc.TokenTypeIDs, want, wantTypes)
				}
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
