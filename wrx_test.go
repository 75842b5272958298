package wrx_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx"
	_ "github.com/wrxlabs/wrx/backend/gorgonia"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
)

// reference is one line of a model's reference.jsonl: logits computed by
// PyTorch, one sequence per forward pass.
type reference = shared.Reference

func readReferences(t *testing.T, path string) []reference {
	return shared.References(t, filepath.Dir(path))
}

// softmax64 is an independent float64 softmax of the reference logits.
func softmax64(x []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	out := make([]float64, len(x))
	var sum float64
	for i, v := range x {
		out[i] = math.Exp(v - m)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// readLabels reads id2label from a model's config.json independently of
// model/bert, so the label names are checked against the file itself.
func readLabels(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ID2Label map[string]string `json:"id2label"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	labels := make([]string, len(cfg.ID2Label))
	for i := range labels {
		l, ok := cfg.ID2Label[itoa(i)]
		if !ok {
			t.Fatalf("%s: id2label has no %d", dir, i)
		}
		labels[i] = l
	}
	return labels
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// synthStore converts a model of tiny-bert's shape and random weights
// into a mem: store for the test (storetest.Synth) and returns its URI.
func synthStore(t *testing.T) string {
	t.Helper()
	uri := "mem:" + t.Name()
	storetest.Synth(t, uri, 32)
	return uri
}

var models = []struct{ name, rel string }{
	{"tiny-bert", "fixtures/tiny-bert"},
	{"tiny-distilbert", "fixtures/tiny-distilbert"},
	{"wrx-sst2-small", "models/wrx-sst2-small"},
}

// TestClassifyMatchesReference checks label, scores, logits and token count
// against the PyTorch reference on every backend, pairs included.
func TestClassifyMatchesReference(t *testing.T) {
	const tol = 1e-4
	for _, m := range models {
		t.Run(m.name, func(t *testing.T) {
			dir := shared.Path(t, filepath.FromSlash(m.rel))
			refs := readReferences(t, filepath.Join(dir, "reference.jsonl"))
			labels := readLabels(t, dir)
			for _, be := range []string{"native", "gorgonia"} {
				t.Run(be, func(t *testing.T) {
					ctx := context.Background()
					c, err := wrx.Open(ctx, dir, wrx.Options{Backend: be})
					if err != nil {
						t.Fatal(err)
					}
					if got := c.Labels(); strings.Join(got, ",") != strings.Join(labels, ",") {
						t.Fatalf("Labels() = %q, config.json says %q", got, labels)
					}
					pairs := 0
					for i, r := range refs {
						pair := ""
						if r.TextPair != nil {
							pair = *r.TextPair
							pairs++
						}
						p, err := c.ClassifyPair(ctx, r.Text, pair)
						if err != nil {
							t.Fatalf("line %d: %v", i+1, err)
						}
						want := softmax64(r.Logits)
						wantClass := argmax(r.Logits)
						if p.Class != wantClass || p.Label != labels[wantClass] {
							t.Errorf("line %d %q: got class %d %q, reference argmax %d %q",
								i+1, r.Text, p.Class, p.Label, wantClass, labels[wantClass])
						}
						if d := math.Abs(float64(p.Score) - want[wantClass]); d > tol {
							t.Errorf("line %d: Score %v, reference %v", i+1, p.Score, want[wantClass])
						}
						if len(p.Scores) != len(labels) || len(p.Logits) != len(labels) {
							t.Fatalf("line %d: %d scores and %d logits for %d labels", i+1, len(p.Scores), len(p.Logits), len(labels))
						}
						for k, l := range labels {
							if d := math.Abs(float64(p.Scores[l]) - want[k]); d > tol {
								t.Errorf("line %d: Scores[%s] = %v, softmax(reference) = %v", i+1, l, p.Scores[l], want[k])
							}
							if d := math.Abs(float64(p.Logits[k]) - r.Logits[k]); d > tol {
								t.Errorf("line %d: Logits[%d] = %v, reference %v", i+1, k, p.Logits[k], r.Logits[k])
							}
						}
						if p.Tokens != len(r.InputIDs) {
							t.Errorf("line %d: Tokens = %d, reference has %d input ids", i+1, p.Tokens, len(r.InputIDs))
						}
					}
					t.Logf("%d references, %d of them pairs", len(refs), pairs)
				})
			}
		})
	}
}

// TestClassifyMatchesClassifyPair checks that Classify is ClassifyPair
// with no second sentence.
func TestClassifyMatchesClassifyPair(t *testing.T) {
	dir := synthStore(t) // a store of random weights: these tests need no trained model
	ctx := context.Background()
	c, err := wrx.Open(ctx, dir, wrx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const text = "a sometimes tedious film ."
	a, err := c.Classify(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.ClassifyPair(ctx, text, "")
	if err != nil {
		t.Fatal(err)
	}
	if a.Label != b.Label || a.Score != b.Score || a.Tokens != b.Tokens {
		t.Errorf("Classify = %+v, ClassifyPair(text, \"\") = %+v", a, b)
	}
}

// TestMaxLen checks that Options.MaxLen truncates the input the model sees.
func TestMaxLen(t *testing.T) {
	dir := synthStore(t) // a store of random weights: these tests need no trained model
	ctx := context.Background()
	for _, tc := range []struct{ maxLen, want int }{
		{0, wrx.DefaultMaxLen}, // zero value means the default
		{16, 16},
	} {
		c, err := wrx.Open(ctx, dir, wrx.Options{MaxLen: tc.maxLen})
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Classify(ctx, strings.Repeat("word ", 300))
		if err != nil {
			t.Fatal(err)
		}
		if p.Tokens != tc.want {
			t.Errorf("MaxLen %d: model saw %d tokens, want %d", tc.maxLen, p.Tokens, tc.want)
		}
	}
}

// TestThreads checks that Options.Threads reaches the native backend
// through the registry and, as documented, does not change the logits.
func TestThreads(t *testing.T) {
	dir := synthStore(t) // a store of random weights: these tests need no trained model
	ctx := context.Background()
	var want []float32
	for _, threads := range []int{0, 1, 3} {
		c, err := wrx.Open(ctx, dir, wrx.Options{Threads: threads})
		if err != nil {
			t.Fatalf("Threads %d: %v", threads, err)
		}
		p, err := c.Classify(ctx, "a charming and often affecting journey")
		if err != nil {
			t.Fatalf("Threads %d: %v", threads, err)
		}
		if want == nil {
			want = p.Logits
		} else if !slices.Equal(p.Logits, want) {
			t.Errorf("Threads %d: logits %v, Threads 0 gave %v", threads, p.Logits, want)
		}
	}
}

func TestClassifyEmptyText(t *testing.T) {
	dir := synthStore(t) // a store of random weights: these tests need no trained model
	ctx := context.Background()
	c, err := wrx.Open(ctx, dir, wrx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, text, pair string }{
		{"empty", "", ""},
		{"spaces", "   ", ""},
		{"whitespace", "\t\n \r", ""},
		{"control characters only", "\x00\ufffd", ""},
		{"empty first sentence of a pair", "", "a hypothesis"},
		{"blank second sentence of a pair", "a premise", " \t"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ClassifyPair(ctx, tc.text, tc.pair)
			if !errors.Is(err, wrx.ErrEmptyText) {
				t.Fatalf("ClassifyPair(%q, %q) error = %v, want one wrapping ErrEmptyText", tc.text, tc.pair, err)
			}
			if !wrx.IsEmptyText(err) {
				t.Errorf("IsEmptyText(%v) = false", err)
			}
		})
	}
}

// TestTruncation checks that Options.Truncation reaches the classifier's
// tokenizer, from a model directory and from a store, and that the zero
// value is the Rust tokenizer's rule.
func TestTruncation(t *testing.T) {
	dir := shared.Path(t, "fixtures", "tiny-bert")
	ctx := context.Background()
	uri, _, err := wrx.DefaultStore(ctx, dir, wrx.DefaultStoreOptions{CacheDir: t.TempDir(), Fidelities: []quant.Fidelity{32}})
	if err != nil {
		t.Fatal(err)
	}
	// 3 + 4 tokens into 6 - 3: Rust keeps 1 + 2, Python 2 + 1.
	const text, pair, maxLen = "a a a", "b b b b", 6
	tests := []struct {
		name  string
		opts  wrx.Options
		trunc bert.Truncation
		types []int
	}{
		{"default", wrx.Options{MaxLen: maxLen}, bert.TruncateRust, []int{0, 0, 0, 1, 1, 1}},
		{"python", wrx.Options{MaxLen: maxLen, Truncation: bert.TruncatePython}, bert.TruncatePython, []int{0, 0, 0, 0, 1, 1}},
	}
	for _, tc := range tests {
		for _, src := range []struct{ name, source string }{{"directory", dir}, {"store", uri}} {
			t.Run(tc.name+"/"+src.name, func(t *testing.T) {
				c, err := wrx.Open(ctx, src.source, tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				tok := c.Tokenizer()
				if got := tok.Options().Truncation; got != tc.trunc {
					t.Errorf("tokenizer truncation = %v, want %v", got, tc.trunc)
				}
				enc, err := tok.Encode(text, pair, maxLen)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(tc.types, enc.TokenTypeIDs); d != "" {
					t.Errorf("token type ids (-want +got):\n%s", d)
				}
				if _, err := c.ClassifyPair(ctx, text, pair); err != nil {
					t.Errorf("ClassifyPair: %v", err)
				}
			})
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	tiny := shared.Path(t, "fixtures", "tiny-bert")
	missing := filepath.Join(t.TempDir(), "no-such-model")
	empty := t.TempDir()
	file := filepath.Join(tiny, "config.json")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		dir  string
		opts wrx.Options
		want []string // substrings the error must contain
		is   error
	}{
		{"nonexistent path", ctx, missing, wrx.Options{}, []string{missing}, os.ErrNotExist},
		{"directory without a model", ctx, empty, wrx.Options{}, []string{empty, "config.json"}, os.ErrNotExist},
		{"file instead of directory", ctx, file, wrx.Options{}, []string{file}, nil},
		{"unknown backend", ctx, tiny, wrx.Options{Backend: "no-such-backend"}, []string{`"no-such-backend"`}, nil},
		{"threads on gorgonia", ctx, tiny, wrx.Options{Backend: "gorgonia", Threads: 2}, []string{`"gorgonia"`, "Threads"}, nil},
		{"negative threads", ctx, tiny, wrx.Options{Threads: -1}, []string{`"native"`, "Threads"}, nil},
		{"cancelled context", cancelled, tiny, wrx.Options{}, nil, context.Canceled},
		{"unknown truncation", ctx, tiny, wrx.Options{Truncation: 9}, []string{tiny, "truncation"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := wrx.Open(tc.ctx, tc.dir, tc.opts)
			if err == nil {
				t.Fatalf("Open(%s) = %v, want an error", tc.dir, c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
		})
	}
}

func TestClassifyCancelled(t *testing.T) {
	dir := synthStore(t) // a store of random weights: these tests need no trained model
	c, err := wrx.Open(context.Background(), dir, wrx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Classify(ctx, "a sometimes tedious film ."); !errors.Is(err, context.Canceled) {
		t.Errorf("Classify with a cancelled context: error = %v, want context.Canceled", err)
	}
}
