package bert

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// File names of a Hugging Face tokenizer inside a model directory.
const (
	VocabFile           = "vocab.txt"
	TokenizerConfigFile = "tokenizer_config.json"
)

// Special tokens every BERT vocabulary must hold.
const (
	TokenCLS = "[CLS]"
	TokenSEP = "[SEP]"
	TokenUNK = "[UNK]"
	TokenPAD = "[PAD]"
)

// Vocab is a WordPiece vocabulary: token i has id i.
type Vocab struct {
	tokens []string
	ids    map[string]int
	// maxLen is the longest token in bytes; WordPiece never needs to try a
	// longer candidate, which bounds the work on long words.
	maxLen int
}

// NewVocab builds a vocabulary from its tokens in id order. It fails when
// the list is empty or lacks one of [CLS], [SEP], [UNK] and [PAD]. As in
// Hugging Face's load_vocab, a token listed twice maps to its last id.
func NewVocab(tokens []string) (*Vocab, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("bert: vocabulary is empty")
	}
	v := &Vocab{
		tokens: append([]string(nil), tokens...),
		ids:    make(map[string]int, len(tokens)),
	}
	for i, tok := range v.tokens {
		v.ids[tok] = i
		v.maxLen = max(v.maxLen, len(tok))
	}
	var missing []string
	for _, tok := range []string{TokenCLS, TokenSEP, TokenUNK, TokenPAD} {
		if _, ok := v.ids[tok]; !ok {
			missing = append(missing, tok)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("bert: vocabulary of %d tokens lacks special token(s) %s", len(tokens), strings.Join(missing, ", "))
	}
	return v, nil
}

// LoadVocab reads a vocab.txt file: one token per line, the id being the
// line index. A trailing "\r" is dropped from each line so that files saved
// with CRLF line endings load as intended.
func LoadVocab(path string) (*Vocab, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bert: read vocabulary: %w", err)
	}
	tokens := parseVocab(data)
	if len(tokens) == 0 {
		return nil, fmt.Errorf("bert: vocabulary file %s is empty", path)
	}
	v, err := NewVocab(tokens)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return v, nil
}

func parseVocab(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	// Like Python's readlines: a final newline ends the last line rather
	// than starting an empty one.
	data = bytes.TrimSuffix(data, []byte("\n"))
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// Len is the number of ids.
func (v *Vocab) Len() int { return len(v.tokens) }

// Tokens returns a copy of the tokens in id order.
func (v *Vocab) Tokens() []string { return append([]string(nil), v.tokens...) }

// ID returns the id of tok.
func (v *Vocab) ID(tok string) (int, bool) {
	id, ok := v.ids[tok]
	return id, ok
}

// Token returns the token with the given id.
func (v *Vocab) Token(id int) (string, bool) {
	if id < 0 || id >= len(v.tokens) {
		return "", false
	}
	return v.tokens[id], true
}
