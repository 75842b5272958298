package shared

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Reference is one line of a model's reference.jsonl: an input and the
// float32 logits a PyTorch implementation computed for it, one sequence per
// forward pass.
type Reference struct {
	Text         string    `json:"text"`
	TextPair     *string   `json:"text_pair"`
	InputIDs     []int     `json:"input_ids"`
	TokenTypeIDs []int     `json:"token_type_ids"`
	Logits       []float64 `json:"logits"`
}

// Pair is the second sentence, or "" for a single sentence.
func (r Reference) Pair() string {
	if r.TextPair == nil {
		return ""
	}
	return *r.TextPair
}

// References reads dir/reference.jsonl, failing tb on any error or an empty
// file.
func References(tb testing.TB, dir string) []Reference {
	tb.Helper()
	path := filepath.Join(dir, "reference.jsonl")
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var refs []Reference
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<22)
	for sc.Scan() {
		var r Reference
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatalf("%s line %d: %v", path, len(refs)+1, err)
		}
		refs = append(refs, r)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	if len(refs) == 0 {
		tb.Fatalf("%s: no reference lines", path)
	}
	return refs
}
