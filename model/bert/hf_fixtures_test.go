package bert_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
)

// TestHFFixtures loads each checkpoint of testdata/hf as a model directory
// (pytorch_model.bin in float32 with vocab.txt; float16 .bin with
// tokenizer.json only and a multi-label head; bfloat16 safetensors with
// tokenizer.json only and a single-logit head), tokenizes every reference
// input to the reference ids and checks the logits against PyTorch's.
func TestHFFixtures(t *testing.T) {
	for _, c := range []struct {
		name    string
		problem bert.ProblemType
		labels  []string
		idsOnly bool // DistilBERT's references carry no token types
	}{
		{"bert-bin", bert.SingleLabel, []string{"contradiction", "entailment", "neutral"}, false},
		{"distil-multilabel", bert.MultiLabel, []string{"alpha", "beta", "gamma", "delta"}, true},
		{"bert-regression", bert.Regression, []string{"LABEL_0"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := hfFixture(c.name)
			m, err := bert.Load(dir, bert.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Config.Problem(); got != c.problem {
				t.Errorf("Problem() = %q, want %q", got, c.problem)
			}
			if d := cmp.Diff(c.labels, m.Config.Labels); d != "" {
				t.Errorf("labels (-want +got):\n%s", d)
			}
			tok, err := bert.LoadTokenizer(dir)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range shared.References(t, dir) {
				enc, err := tok.Encode(r.Text, r.Pair(), 128)
				if err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				if !cmp.Equal(enc.InputIDs, r.InputIDs) || (!c.idsOnly && !cmp.Equal(enc.TokenTypeIDs, r.TokenTypeIDs)) {
					t.Errorf("line %d: ids %v %v, reference %v %v", i+1, enc.InputIDs, enc.TokenTypeIDs, r.InputIDs, r.TokenTypeIDs)
				}
			}
			checkLogits(t, m, dir)
		})
	}
}

func TestParseConfigProblemType(t *testing.T) {
	base := `{"model_type": "bert", "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 8, "vocab_size": 10%s}`
	for _, c := range []struct {
		extra string
		want  bert.ProblemType
		err   string
	}{
		{``, bert.SingleLabel, ""},
		{`, "num_labels": 1`, bert.Regression, ""},
		{`, "num_labels": 1, "problem_type": "multi_label_classification"`, bert.MultiLabel, ""},
		{`, "problem_type": "regression"`, bert.Regression, ""},
		{`, "problem_type": "ranking"`, "", `problem_type "ranking" is not supported`},
		{`, "problem_type": 3`, "", "problem_type"},
	} {
		cfg, err := bert.ParseConfig([]byte(strings.Replace(base, "%s", c.extra, 1)))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.extra, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.extra, err)
		}
		if got := cfg.Problem(); got != c.want {
			t.Errorf("%s: Problem() = %q, want %q", c.extra, got, c.want)
		}
	}
}
