package bert

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// TokenizerJSONFile is the Hugging Face fast tokenizer's file, read when a
// model directory has no vocab.txt.
const TokenizerJSONFile = "tokenizer.json"

// ErrUnsupportedTokenizer is wrapped by the errors that refuse a
// tokenizer.json this package cannot reproduce (a BPE or Unigram model,
// another normalizer or pre-tokenizer, added words...), as opposed to a
// malformed file.
var ErrUnsupportedTokenizer = errors.New("unsupported tokenizer")

type tjTokenizer struct {
	Truncation    *tjTruncation   `json:"truncation"`
	AddedTokens   []tjAddedToken  `json:"added_tokens"`
	Normalizer    *tjNormalizer   `json:"normalizer"`
	PreTokenizer  *tjTyped        `json:"pre_tokenizer"`
	Model         *tjModel        `json:"model"`
	PostProcessor json.RawMessage `json:"post_processor"`
}

type tjTruncation struct {
	Direction string `json:"direction"`
	MaxLength int    `json:"max_length"`
	Strategy  string `json:"strategy"`
}

type tjAddedToken struct {
	ID      int    `json:"id"`
	Content string `json:"content"`
	Special bool   `json:"special"`
}

type tjTyped struct {
	Type string `json:"type"`
}

type tjNormalizer struct {
	Type               string `json:"type"`
	CleanText          *bool  `json:"clean_text"`
	HandleChineseChars *bool  `json:"handle_chinese_chars"`
	StripAccents       *bool  `json:"strip_accents"`
	Lowercase          *bool  `json:"lowercase"`
}

type tjModel struct {
	Type                    *string         `json:"type"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	MaxInputCharsPerWord    *int            `json:"max_input_chars_per_word"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
}

type tjPiece struct {
	SpecialToken *struct {
		ID     string `json:"id"`
		TypeID int    `json:"type_id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID     string `json:"id"`
		TypeID int    `json:"type_id"`
	} `json:"Sequence"`
}

type tjPost struct {
	Type          string                `json:"type"`
	Single        []tjPiece             `json:"single"`
	Pair          []tjPiece             `json:"pair"`
	SpecialTokens map[string]tjSpecials `json:"special_tokens"`
	Sep           []json.RawMessage     `json:"sep"`
	Cls           []json.RawMessage     `json:"cls"`
}

type tjSpecials struct {
	IDs []int `json:"ids"`
}

// LoadTokenizerJSON reads a Hugging Face tokenizer.json and returns the
// same tokenizer as LoadTokenizer would from the vocab.txt of the model
// (the two give the same ids). Only BERT's WordPiece tokenizers are read:
// a WordPiece model with "[UNK]", the "##" prefix and 100-character words,
// the BertNormalizer (cleaning text and spacing CJK characters; lowercase
// and strip_accents are honoured), the BertPreTokenizer, and the [CLS] A
// [SEP] B [SEP] template (TemplateProcessing or BertProcessing). Anything
// else is refused with an error wrapping ErrUnsupportedTokenizer. A
// longest-first truncation's max_length becomes TokenizerOptions.MaxLen.
func LoadTokenizerJSON(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bert: read tokenizer: %w", err)
	}
	tok, err := ParseTokenizerJSON(data)
	if err != nil {
		return nil, fmt.Errorf("bert: tokenizer %s: %w", path, err)
	}
	return tok, nil
}

// ParseTokenizerJSON parses the contents of a tokenizer.json (see
// LoadTokenizerJSON).
func ParseTokenizerJSON(data []byte) (*Tokenizer, error) {
	v, opts, err := parseTokenizerJSON(data)
	if err != nil {
		return nil, err
	}
	return newTokenizer(v, opts)
}

func parseTokenizerJSON(data []byte) (*Vocab, TokenizerOptions, error) {
	var opts TokenizerOptions
	unsupported := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrUnsupportedTokenizer, fmt.Sprintf(format, a...))
	}
	var f tjTokenizer
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, opts, fmt.Errorf("malformed JSON: %w", err)
	}
	m := f.Model
	if m == nil {
		return nil, opts, errors.New("no model")
	}
	typ := "WordPiece"
	if m.Type != nil {
		typ = *m.Type
	} else if len(m.Merges) > 0 || m.ContinuingSubwordPrefix == nil {
		typ = "not WordPiece"
	}
	if typ != "WordPiece" {
		return nil, opts, unsupported("model type %s: only WordPiece (BERT) tokenizers are supported", typ)
	}
	if u := or(m.UnkToken, TokenUNK); u != TokenUNK {
		return nil, opts, unsupported("WordPiece unk_token %q: only %q is supported", u, TokenUNK)
	}
	if p := or(m.ContinuingSubwordPrefix, "##"); p != "##" {
		return nil, opts, unsupported("WordPiece continuing_subword_prefix %q: only \"##\" is supported", p)
	}
	if n := or(m.MaxInputCharsPerWord, maxWordRunes); n != maxWordRunes {
		return nil, opts, unsupported("WordPiece max_input_chars_per_word %d: only %d is supported", n, maxWordRunes)
	}
	var ids map[string]int
	if err := json.Unmarshal(m.Vocab, &ids); err != nil {
		return nil, opts, fmt.Errorf("model.vocab is not a map of token ids: %w", err)
	}
	tokens := make([]string, len(ids))
	seen := make([]bool, len(ids))
	for tok, id := range ids {
		if id < 0 || id >= len(ids) {
			return nil, opts, fmt.Errorf("model.vocab: token %q has id %d, outside 0..%d; ids must be dense", tok, id, len(ids)-1)
		}
		if seen[id] {
			return nil, opts, fmt.Errorf("model.vocab: id %d is given to two tokens", id)
		}
		seen[id] = true
		tokens[id] = tok
	}
	v, err := NewVocab(tokens)
	if err != nil {
		return nil, opts, err
	}

	n := f.Normalizer
	if n == nil {
		return nil, opts, unsupported("no normalizer: only BertNormalizer is supported")
	}
	if n.Type != "BertNormalizer" {
		return nil, opts, unsupported("normalizer %s: only BertNormalizer is supported", n.Type)
	}
	if !or(n.CleanText, true) {
		return nil, opts, unsupported("BertNormalizer clean_text false is not supported")
	}
	if !or(n.HandleChineseChars, true) {
		return nil, opts, unsupported("BertNormalizer handle_chinese_chars false is not supported")
	}
	opts.KeepCase = !or(n.Lowercase, true)
	if n.StripAccents != nil {
		opts.Accents = AccentsKeep
		if *n.StripAccents {
			opts.Accents = AccentsStrip
		}
	}
	if p := f.PreTokenizer; p == nil || p.Type != "BertPreTokenizer" {
		name := "none"
		if p != nil {
			name = p.Type
		}
		return nil, opts, unsupported("pre_tokenizer %s: only BertPreTokenizer is supported", name)
	}
	if err := checkPostProcessor(f.PostProcessor, v); err != nil {
		return nil, opts, err
	}
	for _, a := range f.AddedTokens {
		if tok, ok := v.Token(a.ID); !ok || tok != a.Content {
			return nil, opts, unsupported("added token %q (id %d) is not the vocabulary's token of that id; tokenizers that add tokens are not supported", a.Content, a.ID)
		}
		if !a.Special {
			return nil, opts, unsupported("added token %q is not special; tokenizers that add words are not supported", a.Content)
		}
	}
	if tr := f.Truncation; tr != nil {
		if tr.Strategy != "LongestFirst" {
			return nil, opts, unsupported("truncation strategy %s: only LongestFirst is supported", tr.Strategy)
		}
		if tr.Direction != "" && tr.Direction != "Right" {
			return nil, opts, unsupported("truncation direction %s: only Right is supported", tr.Direction)
		}
		if tr.MaxLength < 3 {
			return nil, opts, fmt.Errorf("truncation max_length %d cannot hold the special tokens", tr.MaxLength)
		}
		opts.MaxLen = tr.MaxLength
	}
	return v, opts, nil
}

// checkPostProcessor accepts the [CLS] A [SEP] and [CLS] A [SEP] B [SEP]
// templates, with type ids 0 up to the first [SEP] and 1 after it.
func checkPostProcessor(raw json.RawMessage, v *Vocab) error {
	if len(raw) == 0 || string(raw) == "null" {
		return fmt.Errorf("%w: no post_processor: the model would get no [CLS] and [SEP]", ErrUnsupportedTokenizer)
	}
	var p tjPost
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("post_processor: %w", err)
	}
	cls, _ := v.ID(TokenCLS)
	sep, _ := v.ID(TokenSEP)
	switch p.Type {
	case "TemplateProcessing":
		const single, pair = "[CLS]:0 $A:0 [SEP]:0", "[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1"
		if s := template(p.Single); s != single {
			return fmt.Errorf("%w: post_processor single template %q: only %q is supported", ErrUnsupportedTokenizer, s, single)
		}
		if s := template(p.Pair); s != pair {
			return fmt.Errorf("%w: post_processor pair template %q: only %q is supported", ErrUnsupportedTokenizer, s, pair)
		}
		for tok, want := range map[string]int{TokenCLS: cls, TokenSEP: sep} {
			if s, ok := p.SpecialTokens[tok]; !ok || len(s.IDs) != 1 || s.IDs[0] != want {
				return fmt.Errorf("post_processor: special token %s should have id %d as in the vocabulary, has %v", tok, want, s.IDs)
			}
		}
	case "BertProcessing":
		for _, c := range []struct {
			name string
			raw  []json.RawMessage
			tok  string
			id   int
		}{{"cls", p.Cls, TokenCLS, cls}, {"sep", p.Sep, TokenSEP, sep}} {
			var tok string
			var id int
			if len(c.raw) != 2 || json.Unmarshal(c.raw[0], &tok) != nil || json.Unmarshal(c.raw[1], &id) != nil {
				return fmt.Errorf("post_processor: %s is not a [token, id] pair", c.name)
			}
			if tok != c.tok || id != c.id {
				return fmt.Errorf("%w: post_processor %s is %q with id %d; only %q with the vocabulary's id %d is supported",
					ErrUnsupportedTokenizer, c.name, tok, id, c.tok, c.id)
			}
		}
	default:
		return fmt.Errorf("%w: post_processor %s: only TemplateProcessing and BertProcessing with [CLS] and [SEP] are supported", ErrUnsupportedTokenizer, p.Type)
	}
	return nil
}

// template spells a template as Hugging Face's string form does.
func template(pieces []tjPiece) string {
	var parts []string
	for _, p := range pieces {
		switch {
		case p.SpecialToken != nil:
			parts = append(parts, p.SpecialToken.ID+":"+strconv.Itoa(p.SpecialToken.TypeID))
		case p.Sequence != nil:
			parts = append(parts, "$"+p.Sequence.ID+":"+strconv.Itoa(p.Sequence.TypeID))
		default:
			parts = append(parts, "?")
		}
	}
	return strings.Join(parts, " ")
}
