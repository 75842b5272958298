package bert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/wrxlabs/wrx/internal/freelist"
)

// DefaultMaxLen is the sequence length Encode uses when given maxLen <= 0:
// the position table size of BERT-base.
const DefaultMaxLen = 512

// maxWordRunes is Hugging Face's max_input_chars_per_word: a longer word
// becomes [UNK] without trying WordPiece on it.
const maxWordRunes = 100

// ErrEmptyText is returned, wrapped, by Encode when a text has no tokens
// after normalization: it is empty, or holds only whitespace and characters
// the tokenizer drops (control, format and unassigned code points). A
// classifier must not answer for such input as if it were a sentence.
var ErrEmptyText = errors.New("empty text")

// AccentMode says whether the tokenizer strips accents (NFD, then drops
// every nonspacing mark).
type AccentMode int

// Accent modes. The zero value follows BERT: strip exactly when lowercasing.
const (
	AccentsDefault AccentMode = iota
	AccentsStrip
	AccentsKeep
)

// Truncation says how longest-first truncation shares the length limit
// between the two sequences of a pair. The two Hugging Face tokenizers
// agree except when both sequences must be cut and the tokens left for
// them are odd in number: the Python one gives the extra token to the
// first sequence, the Rust one to the one it sees as longer (see
// TruncateRust).
type Truncation int

// Truncation modes. The zero value follows the Rust tokenizer.
const (
	// TruncateRust is Hugging Face's Rust tokenizer, the tokenizers
	// library from v0.23 (BertTokenizerFast, tokenizer.json, and what
	// AutoTokenizer returns by default). Of the n tokens left after the
	// special ones, a shorter sequence of at most n/2 tokens is kept whole
	// and the longer gets the rest; otherwise the shorter keeps n/2 and
	// the longer n - n/2, the second sequence counting as the longer on
	// equal lengths. The lengths compared are the tokenizer's: it stops
	// tokenizing a sequence after the word or punctuation mark that takes
	// it to the full limit (special tokens included), so two sequences
	// that both reach the limit compare by where their words end.
	TruncateRust Truncation = iota
	// TruncatePython is transformers' slow Python BertTokenizer: one token
	// at a time from the end of the longer sequence, from the second on a
	// tie, so that the first keeps the extra token.
	TruncatePython
)

// String returns "rust" or "python", the names ParseTruncation accepts.
func (m Truncation) String() string {
	switch m {
	case TruncateRust:
		return "rust"
	case TruncatePython:
		return "python"
	}
	return fmt.Sprintf("Truncation(%d)", int(m))
}

// ParseTruncation returns the truncation mode named "rust" or "python".
func ParseTruncation(name string) (Truncation, error) {
	for _, m := range []Truncation{TruncateRust, TruncatePython} {
		if name == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("bert: unknown truncation %q (want rust or python)", name)
}

// TokenizerOptions are the settings that tokenizer_config.json may change,
// and the pair truncation. The zero value is the uncased BERT tokenizer
// truncating as the Rust tokenizer does. The struct is JSON-ready so that
// a store can keep it beside the vocabulary.
type TokenizerOptions struct {
	// KeepCase turns off lowercasing (do_lower_case false: cased models).
	KeepCase bool `json:"keep_case,omitempty"`
	// Accents overrides accent stripping (strip_accents true or false).
	Accents AccentMode `json:"accents,omitempty"`
	// Truncation selects how a pair too long for the limit is cut:
	// TruncateRust (the zero value) or TruncatePython.
	Truncation Truncation `json:"truncation,omitempty"`
	// MaxLen, if positive, caps the length of every encoding, special
	// tokens included, whatever length Encode is asked for: the
	// max_length of a tokenizer.json's truncation. 0: no cap.
	MaxLen int `json:"max_len,omitempty"`
}

// Tokenizer is the BERT BasicTokenizer followed by WordPiece, reproducing
// Hugging Face's tokenizers for BERT: by default the Rust tokenizer
// (BertTokenizerFast, what AutoTokenizer gives), token for token; with
// TokenizerOptions.Truncation set to TruncatePython (or WithTruncation),
// the slow Python BertTokenizer. The two split text identically and differ
// only in how a pair too long for the limit is cut (see Truncation). It is
// safe for concurrent use.
//
// The steps, for each text:
//  1. drop NUL, U+FFFD, invalid UTF-8 and every code point of category C*
//     except \t \n \r; turn \t \n \r and category Zs into a space;
//  2. put spaces around CJK ideographs (the blocks of HF's _is_chinese_char);
//  3. NFC-normalize, then split on whitespace;
//  4. per word: lowercase as Python's str.lower does (İ becomes i + U+0307,
//     a final capital sigma becomes ς), strip accents, and split each
//     punctuation character (ASCII symbols or Unicode P*) into its own word;
//  5. WordPiece: greedy longest match, continuation pieces prefixed "##"; a
//     word over 100 code points, or one with an unmatched remainder,
//     becomes [UNK].
//
// Special tokens written in the text, such as "[CLS]", are tokenized as
// ordinary text.
type Tokenizer struct {
	vocab         *Vocab
	opts          TokenizerOptions
	lower, strip  bool
	cls, sep, unk int
	// scratches keeps the buffers of finished encodings for the next:
	// every request encodes its text first.
	scratches freelist.List[*scratch]
}

// NewTokenizer builds a tokenizer from a vocabulary in id order, for example
// one kept in a store's manifest.
func NewTokenizer(vocab []string, opts TokenizerOptions) (*Tokenizer, error) {
	v, err := NewVocab(vocab)
	if err != nil {
		return nil, err
	}
	return newTokenizer(v, opts)
}

func newTokenizer(v *Vocab, opts TokenizerOptions) (*Tokenizer, error) {
	if opts.Accents < AccentsDefault || opts.Accents > AccentsKeep {
		return nil, fmt.Errorf("bert: unknown accent mode %d", opts.Accents)
	}
	if opts.Truncation != TruncateRust && opts.Truncation != TruncatePython {
		return nil, fmt.Errorf("bert: unknown truncation mode %d", int(opts.Truncation))
	}
	if opts.MaxLen < 0 {
		return nil, fmt.Errorf("bert: negative tokenizer length cap %d", opts.MaxLen)
	}
	t := &Tokenizer{vocab: v, opts: opts, lower: !opts.KeepCase,
		scratches: freelist.List[*scratch]{Max: runtime.GOMAXPROCS(0)}}
	t.strip = (t.lower && opts.Accents != AccentsKeep) || opts.Accents == AccentsStrip
	t.cls, _ = v.ID(TokenCLS)
	t.sep, _ = v.ID(TokenSEP)
	t.unk, _ = v.ID(TokenUNK)
	return t, nil
}

// tokenizerConfig is the part of tokenizer_config.json that changes how
// text is split.
type tokenizerConfig struct {
	DoLowerCase          *bool `json:"do_lower_case"`
	StripAccents         *bool `json:"strip_accents"`
	TokenizeChineseChars *bool `json:"tokenize_chinese_chars"`
	DoBasicTokenize      *bool `json:"do_basic_tokenize"`
}

// LoadTokenizer reads a Hugging Face model directory's tokenizer: vocab.txt,
// or when there is none tokenizer.json (see LoadTokenizerJSON), with the
// settings of tokenizer_config.json, which win over tokenizer.json's as
// they do in transformers' BertTokenizerFast. Without tokenizer_config.json,
// or without do_lower_case in it, the tokenizer lowercases, as
// BertTokenizer does. Settings this package does not implement
// (tokenize_chinese_chars or do_basic_tokenize set to false) are refused
// rather than ignored.
//
// The tokenizer truncates as the Rust tokenizer does whatever
// tokenizer_class says: AutoTokenizer loads "BertTokenizer" as
// BertTokenizerFast too, so the class name does not tell which tokenizer
// a model was used with. Call WithTruncation(TruncatePython) to follow
// the slow tokenizer.
func LoadTokenizer(dir string) (*Tokenizer, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("bert: tokenizer directory: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("bert: tokenizer directory %s is not a directory", dir)
	}
	vocabPath, jsonPath := filepath.Join(dir, VocabFile), filepath.Join(dir, TokenizerJSONFile)
	var (
		v    *Vocab
		opts TokenizerOptions
	)
	if _, err := os.Stat(vocabPath); errors.Is(err, fs.ErrNotExist) {
		data, err := os.ReadFile(jsonPath)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("bert: no tokenizer in %s: neither %s nor %s exists", dir, VocabFile, TokenizerJSONFile)
		} else if err != nil {
			return nil, fmt.Errorf("bert: read tokenizer: %w", err)
		}
		if v, opts, err = parseTokenizerJSON(data); err != nil {
			return nil, fmt.Errorf("bert: tokenizer %s: %w", jsonPath, err)
		}
	} else if v, err = LoadVocab(vocabPath); err != nil {
		return nil, err
	}
	if err := readTokenizerConfig(filepath.Join(dir, TokenizerConfigFile), &opts); err != nil {
		return nil, err
	}
	return newTokenizer(v, opts)
}

// readTokenizerConfig applies tokenizer_config.json, if present, to opts.
func readTokenizerConfig(cfgPath string, opts *TokenizerOptions) error {
	data, err := os.ReadFile(cfgPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // BertTokenizer's defaults, or tokenizer.json's settings
	case err != nil:
		return fmt.Errorf("bert: read tokenizer config: %w", err)
	}
	var c tokenizerConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("bert: parse tokenizer config %s: %w", cfgPath, err)
	}
	if c.DoLowerCase != nil {
		opts.KeepCase = !*c.DoLowerCase
	}
	if c.StripAccents != nil {
		opts.Accents = AccentsKeep
		if *c.StripAccents {
			opts.Accents = AccentsStrip
		}
	}
	if c.TokenizeChineseChars != nil && !*c.TokenizeChineseChars {
		return fmt.Errorf("bert: tokenizer config %s: tokenize_chinese_chars=false is not supported", cfgPath)
	}
	if c.DoBasicTokenize != nil && !*c.DoBasicTokenize {
		return fmt.Errorf("bert: tokenizer config %s: do_basic_tokenize=false is not supported", cfgPath)
	}
	return nil
}

// Vocab returns a copy of the vocabulary in id order.
func (t *Tokenizer) Vocab() []string { return t.vocab.Tokens() }

// VocabSize is the number of token ids.
func (t *Tokenizer) VocabSize() int { return t.vocab.Len() }

// LowerCase reports whether the tokenizer lowercases its input.
func (t *Tokenizer) LowerCase() bool { return t.lower }

// Options returns the options the tokenizer was built with.
func (t *Tokenizer) Options() TokenizerOptions { return t.opts }

// WithTruncation returns a tokenizer that is t but for its pair
// truncation; t itself is unchanged and the two share the vocabulary.
func (t *Tokenizer) WithTruncation(m Truncation) (*Tokenizer, error) {
	opts := t.opts
	opts.Truncation = m
	return newTokenizer(t.vocab, opts)
}

// TokenID returns the id of a vocabulary token.
func (t *Tokenizer) TokenID(tok string) (int, bool) { return t.vocab.ID(tok) }

// Encoding is a tokenized input ready for the model.
type Encoding struct {
	// Tokens are the WordPiece tokens of the text followed by those of the
	// pair, before truncation and without special tokens.
	Tokens []string
	// InputIDs are [CLS] text [SEP] (pair [SEP]) after truncation.
	InputIDs []int
	// TokenTypeIDs are 0 up to and including the first [SEP], 1 after it.
	TokenTypeIDs []int
}

// EncodeOptions tune EncodeWith. The zero value encodes at DefaultMaxLen
// and refuses empty text.
type EncodeOptions struct {
	// MaxLen bounds len(InputIDs), special tokens included; <= 0 means
	// DefaultMaxLen.
	MaxLen int
	// AllowEmpty encodes a text without tokens as Hugging Face does (as
	// [CLS] [SEP]) instead of returning ErrEmptyText.
	AllowEmpty bool
}

// Encode tokenizes text, or the sentence pair (text, pair) when pair is not
// "", into at most maxLen ids (<= 0 means DefaultMaxLen; never more than
// TokenizerOptions.MaxLen when that is set), truncating longest
// first as Hugging Face does: tokens go from the end of the longer
// sequence, and when both are too long the tokenizer's Truncation decides
// which keeps the extra token of an odd limit. A text or a non-empty pair
// without tokens gives an error wrapping ErrEmptyText (EncodeWith with
// AllowEmpty encodes them as Hugging Face does); a maxLen below the number
// of special tokens (2, or 3 for a pair) is an error.
func (t *Tokenizer) Encode(text, pair string, maxLen int) (Encoding, error) {
	return t.EncodeWith(text, pair, EncodeOptions{MaxLen: maxLen})
}

// EncodeWith is Encode with options.
func (t *Tokenizer) EncodeWith(text, pair string, opts EncodeOptions) (Encoding, error) {
	maxLen := opts.MaxLen
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	if c := t.opts.MaxLen; c > 0 && maxLen > c {
		maxLen = c
	}
	hasPair := pair != ""
	special := 2
	if hasPair {
		special = 3
	}
	if maxLen < special {
		return Encoding{}, fmt.Errorf("bert: encode: max length %d cannot hold the %d special tokens", maxLen, special)
	}
	// About one token per five bytes of English; growing past the guess is
	// fine, but it saves most reallocations.
	guess := (len(text)+len(pair))/5 + 4
	s, ok := t.scratches.Get()
	if !ok {
		s = new(scratch)
	}
	defer t.putScratch(s)
	// The ids are copied into the encoding once truncated, so they are
	// tokenized into a kept buffer; the tokens are the encoding's own.
	toks, ids, seenA := t.tokenize(s, text, maxLen, make([]string, 0, guess), s.ids[:0])
	s.ids = ids
	na := len(ids)
	if na == 0 && !opts.AllowEmpty {
		return Encoding{}, fmt.Errorf("bert: encode: %w: text %s has no tokens", ErrEmptyText, quoteShort(text))
	}
	seenB := 0
	if hasPair {
		toks, ids, seenB = t.tokenize(s, pair, maxLen, toks, ids)
		s.ids = ids
		if len(ids) == na && !opts.AllowEmpty {
			return Encoding{}, fmt.Errorf("bert: encode: %w: text pair %s has no tokens", ErrEmptyText, quoteShort(pair))
		}
	}
	a, b := ids[:na], ids[na:]
	budget := maxLen - special
	if hasPair {
		if t.opts.Truncation == TruncatePython {
			a, b = truncatePython(a, b, budget)
		} else {
			a, b = truncateRust(a, b, seenA, seenB, budget)
		}
	} else if len(a) > budget {
		a = a[:budget]
	}

	n := len(a) + len(b) + special
	enc := Encoding{Tokens: toks, InputIDs: make([]int, 0, n), TokenTypeIDs: make([]int, n)}
	enc.InputIDs = append(enc.InputIDs, t.cls)
	enc.InputIDs = append(enc.InputIDs, a...)
	enc.InputIDs = append(enc.InputIDs, t.sep)
	if hasPair {
		enc.InputIDs = append(enc.InputIDs, b...)
		enc.InputIDs = append(enc.InputIDs, t.sep)
		for i := len(a) + 2; i < n; i++ {
			enc.TokenTypeIDs[i] = 1
		}
	}
	if enc.Tokens == nil {
		enc.Tokens = []string{}
	}
	return enc, nil
}

// truncateRust shortens a and b to fit in budget as the Rust tokenizer's
// LongestFirst does, given the lengths la <= len(a) and lb <= len(b) that
// it sees (see tokenize): if the shorter fits in half the budget it is
// kept and the longer gets the rest; otherwise the shorter (a on equal
// lengths) keeps budget/2 and the longer budget - budget/2.
//
// A seen length below the real one is at least the full length limit,
// above budget, so the slices below stay in range: in the first case the
// longer keeps fewer than it has, in the second both keep at most
// budget - budget/2 <= the shorter seen length.
func truncateRust(a, b []int, la, lb, budget int) ([]int, []int) {
	if la+lb <= budget {
		return a, b
	}
	short := min(la, lb)
	if short > budget-short {
		short = budget / 2
	}
	long := budget - short
	if la > lb {
		return a[:long], b[:short]
	}
	return a[:short], b[:long]
}

// truncatePython drops tokens from the end of the longer of a and b, from
// b on a tie, until both fit in budget: the slow Python tokenizer's
// longest_first.
func truncatePython(a, b []int, budget int) ([]int, []int) {
	excess := len(a) + len(b) - budget
	if excess <= 0 {
		return a, b
	}
	// Trim the longer down to the shorter's length first, then alternate:
	// b loses on ties, so a keeps the extra token of an odd budget.
	if d := min(excess, abs(len(a)-len(b))); len(a) > len(b) {
		a = a[:len(a)-d]
		excess -= d
	} else {
		b = b[:len(b)-d]
		excess -= d
	}
	b = b[:len(b)-(excess+1)/2]
	a = a[:len(a)-excess/2]
	return a, b
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func quoteShort(s string) string {
	const limit = 48
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q...", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}

// Tokenize returns the WordPiece tokens of text, without special tokens
// or truncation. Empty text gives no tokens.
func (t *Tokenizer) Tokenize(text string) []string {
	var s scratch
	toks, _, _ := t.tokenize(&s, text, math.MaxInt, nil, nil)
	return toks
}

// scratch holds the buffers and the state of one call, so that a shared
// Tokenizer needs no locking.
type scratch struct {
	clean, low, nfd, cand []byte
	ids                   []int // the untruncated ids of the text and pair
	// The sequence being tokenized: its first index in ids, the count at
	// which the Rust tokenizer stops, and the count when it stopped (-1
	// while it has not).
	start, limit, seen int
}

// maxKeptScratch is the most bytes of buffers a scratch may hold to be
// kept for the next encoding: a very long text's are left to the collector.
const maxKeptScratch = 64 << 10

// putScratch keeps s for a later encoding, unless it grew large.
func (t *Tokenizer) putScratch(s *scratch) {
	if cap(s.clean)+cap(s.low)+cap(s.nfd)+cap(s.cand)+8*cap(s.ids) > maxKeptScratch {
		return
	}
	t.scratches.Put(s)
}

// tokenize appends the WordPiece tokens of text and their ids. It also
// returns how many tokens the Rust tokenizer produces for text when
// truncating to limit: with truncation on, it stops after the first
// pre-token (word or punctuation mark) that brings the count to limit or
// more, so a longer text counts as that many tokens; a shorter text
// counts all its tokens.
func (t *Tokenizer) tokenize(s *scratch, text string, limit int, toks []string, ids []int) ([]string, []int, int) {
	s.start, s.limit, s.seen = len(ids), limit, -1
	b := cleanText(s.clean[:0], text)
	s.clean = b
	if !norm.NFC.IsNormal(b) {
		b = norm.NFC.Bytes(b)
	}
	for i := 0; i < len(b); {
		r, size := rune(b[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(b[i:])
		}
		if isPySpace(r) {
			i += size
			continue
		}
		j := i + size
		for j < len(b) {
			r, size := rune(b[j]), 1
			if r >= utf8.RuneSelf {
				r, size = utf8.DecodeRune(b[j:])
			}
			if isPySpace(r) {
				break
			}
			j += size
		}
		toks, ids = t.word(s, b[i:j], toks, ids)
		i = j
	}
	if s.seen < 0 {
		s.seen = len(ids) - s.start
	}
	return toks, ids, s.seen
}

// word runs step 4 and WordPiece on one whitespace-delimited word.
func (t *Tokenizer) word(s *scratch, w []byte, toks []string, ids []int) ([]string, []int) {
	ascii := isASCII(w)
	if t.lower {
		s.low = appendLower(s.low[:0], w, ascii)
		w = s.low
	}
	if t.strip && !ascii {
		s.nfd = norm.NFD.Append(s.nfd[:0], w...)
		w = dropNonspacingMarks(s.nfd)
	}
	start := 0
	for i := 0; i < len(w); {
		r, size := rune(w[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(w[i:])
		}
		if isPunct(r) {
			if start < i {
				toks, ids = t.preToken(s, w[start:i], toks, ids)
			}
			toks, ids = t.preToken(s, w[i:i+size], toks, ids)
			start = i + size
		}
		i += size
	}
	if start < len(w) {
		toks, ids = t.preToken(s, w[start:], toks, ids)
	}
	return toks, ids
}

// preToken runs WordPiece on one pre-token and notes whether the Rust
// tokenizer would stop after it (see tokenize).
func (t *Tokenizer) preToken(s *scratch, w []byte, toks []string, ids []int) ([]string, []int) {
	toks, ids = t.wordPiece(s, w, toks, ids)
	if n := len(ids) - s.start; s.seen < 0 && n >= s.limit {
		s.seen = n
	}
	return toks, ids
}

// wordPiece splits a word into the longest vocabulary pieces, left to
// right, or into [UNK] when it is too long or some remainder matches no
// piece.
func (t *Tokenizer) wordPiece(s *scratch, w []byte, toks []string, ids []int) ([]string, []int) {
	v := t.vocab
	if utf8.RuneCount(w) > maxWordRunes {
		return append(toks, v.tokens[t.unk]), append(ids, t.unk)
	}
	mark := len(ids)
	for start := 0; start < len(w); {
		prefix := 0
		if start > 0 {
			prefix = 2
		}
		end := len(w)
		// A candidate longer than every vocabulary token cannot match.
		if end-start+prefix > v.maxLen {
			end = start + v.maxLen - prefix
			for end > start && !utf8.RuneStart(w[end]) {
				end--
			}
		}
		id := -1
		for end > start {
			var ok bool
			if start == 0 {
				id, ok = v.ids[string(w[:end])]
			} else {
				s.cand = append(append(s.cand[:0], "##"...), w[start:end]...)
				id, ok = v.ids[string(s.cand)]
			}
			if ok {
				break
			}
			id = -1
			_, size := utf8.DecodeLastRune(w[start:end])
			end -= size
		}
		if id < 0 {
			toks, ids = toks[:mark], ids[:mark]
			return append(toks, v.tokens[t.unk]), append(ids, t.unk)
		}
		toks, ids = append(toks, v.tokens[id]), append(ids, id)
		start = end
	}
	return toks, ids
}

// cleanText runs steps 1 and 2: it drops what BERT treats as control
// characters, maps whitespace to a space and isolates CJK ideographs.
// Invalid UTF-8 decodes to U+FFFD and is dropped with it.
func cleanText(dst []byte, text string) []byte {
	for _, r := range text {
		switch {
		case r < utf8.RuneSelf:
			switch {
			case r == ' ' || r == '\t' || r == '\n' || r == '\r':
				dst = append(dst, ' ')
			case r < 0x20 || r == 0x7f: // Cc, NUL included
			default:
				dst = append(dst, byte(r))
			}
		case r == utf8.RuneError || isOther(r):
		case unicode.Is(unicode.Zs, r):
			dst = append(dst, ' ')
		case isCJK(r):
			dst = append(dst, ' ')
			dst = utf8.AppendRune(dst, r)
			dst = append(dst, ' ')
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}

// isOther reports whether r is in a C* category (Cc, Cf, Cs, Co or the
// unassigned Cn), which Python's unicodedata reports for every code point
// outside the L, M, N, P, S and Z categories.
func isOther(r rune) bool {
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// isCJK is Hugging Face's _is_chinese_char: the CJK Unified Ideographs
// blocks and extensions A to E, and the compatibility ideographs. Hangul,
// kana and CJK punctuation are not included.
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}

// isPySpace is Python's str.isspace, which str.split uses. After cleanText
// only the space and U+2028/U+2029 (categories Zl, Zp) can still occur.
func isPySpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0x2028, 0x2029:
		return true
	}
	return r >= 0xa0 && unicode.Is(unicode.Zs, r)
}

// isPunct is BERT's _is_punctuation: every non-alphanumeric printable ASCII
// character, and Unicode categories P*.
func isPunct(r rune) bool {
	if (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126) {
		return true
	}
	return r >= utf8.RuneSelf && unicode.IsPunct(r)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// appendLower appends w lowercased as Python's str.lower does: the simple
// Unicode mapping, plus the two full mappings it applies, U+0130 to
// "i\u0307" and capital sigma to final sigma at the end of a word.
func appendLower(dst, w []byte, ascii bool) []byte {
	if ascii {
		for _, c := range w {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		return dst
	}
	for i := 0; i < len(w); {
		r, size := utf8.DecodeRune(w[i:])
		switch {
		case r == 0x130:
			dst = append(dst, "i\u0307"...)
		case r == 0x3a3:
			if finalSigma(w, i, size) {
				dst = utf8.AppendRune(dst, 0x3c2)
			} else {
				dst = utf8.AppendRune(dst, 0x3c3)
			}
		default:
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		}
		i += size
	}
	return dst
}

// finalSigma reports whether the capital sigma at w[i:i+size] is in the
// Final_Sigma context: a cased letter before it and none after it, skipping
// case-ignorable characters both ways.
func finalSigma(w []byte, i, size int) bool {
	j := i
	for j > 0 {
		r, sz := utf8.DecodeLastRune(w[:j])
		if !caseIgnorable(r) {
			if !cased(r) {
				return false
			}
			break
		}
		j -= sz
	}
	if j == 0 {
		return false
	}
	for k := i + size; k < len(w); {
		r, sz := utf8.DecodeRune(w[k:])
		if !caseIgnorable(r) {
			return !cased(r)
		}
		k += sz
	}
	return true
}

func cased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// caseIgnorable is Unicode's Case_Ignorable property: Mn, Me, Cf, Lm, Sk
// and the Word_Break classes MidLetter, MidNumLet and Single_Quote.
func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0xb7, 0x387, 0x55f, 0x5f4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xfe13, 0xfe52, 0xfe55, 0xff07, 0xff0e, 0xff1a:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// dropNonspacingMarks removes category Mn in place.
func dropNonspacingMarks(b []byte) []byte {
	out := b[:0]
	for i := 0; i < len(b); {
		r, size := rune(b[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(b[i:])
		}
		if r < utf8.RuneSelf || !unicode.Is(unicode.Mn, r) {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}
