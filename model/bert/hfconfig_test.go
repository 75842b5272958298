package bert_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
)

// The expected configs are transcribed by hand from the fixtures'
// config.json files.
func TestLoadConfigFixtures(t *testing.T) {
	tests := []struct {
		elem []string
		want *bert.Config
	}{
		{[]string{"fixtures", "tiny-bert"}, &bert.Config{
			ModelType: "bert", VocabSize: 30522, Hidden: 64, Layers: 3, Heads: 4, Intermediate: 256,
			MaxPosition: 512, TypeVocab: 2, LayerNormEps: 1e-12, Activation: "gelu",
			Labels: []string{"contradiction", "entailment", "neutral"}, PadTokenID: 0,
		}},
		{[]string{"fixtures", "tiny-distilbert"}, &bert.Config{
			ModelType: "distilbert", VocabSize: 30522, Hidden: 64, Layers: 3, Heads: 4, Intermediate: 256,
			MaxPosition: 512, TypeVocab: 0, LayerNormEps: 1e-12, Activation: "gelu",
			Labels: []string{"NEGATIVE", "POSITIVE"}, PadTokenID: 0,
		}},
		{[]string{"models", "wrx-sst2-small"}, &bert.Config{
			ModelType: "bert", VocabSize: 30522, Hidden: 384, Layers: 6, Heads: 12, Intermediate: 1536,
			MaxPosition: 512, TypeVocab: 2, LayerNormEps: 1e-12, Activation: "gelu",
			Labels: []string{"negative", "positive"}, PadTokenID: 0,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.elem[1], func(t *testing.T) {
			dir := shared.Path(t, tt.elem...)
			for _, path := range []string{filepath.Join(dir, bert.ConfigFile), dir} {
				got, err := bert.LoadConfig(path)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("LoadConfig(%s) (-want +got):\n%s", path, diff)
				}
			}
		})
	}
}

// Absent keys take the defaults of transformers' BertConfig and
// DistilBertConfig, and labels follow PretrainedConfig.
func TestParseConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		json string
		want *bert.Config
	}{
		{"bert", `{"model_type":"bert"}`, &bert.Config{
			ModelType: "bert", VocabSize: 30522, Hidden: 768, Layers: 12, Heads: 12, Intermediate: 3072,
			MaxPosition: 512, TypeVocab: 2, LayerNormEps: 1e-12, Activation: "gelu",
			Labels: []string{"LABEL_0", "LABEL_1"},
		}},
		{"distilbert with num_labels", `{"model_type":"distilbert","num_labels":3,"pad_token_id":null}`, &bert.Config{
			ModelType: "distilbert", VocabSize: 30522, Hidden: 768, Layers: 6, Heads: 12, Intermediate: 3072,
			MaxPosition: 512, LayerNormEps: 1e-12, Activation: "gelu",
			Labels: []string{"LABEL_0", "LABEL_1", "LABEL_2"},
		}},
		{"id2label wins over num_labels", `{"model_type":"bert","num_labels":5,"id2label":{"1":"b","0":"a"},"layer_norm_eps":1e-5}`, &bert.Config{
			ModelType: "bert", VocabSize: 30522, Hidden: 768, Layers: 12, Heads: 12, Intermediate: 3072,
			MaxPosition: 512, TypeVocab: 2, LayerNormEps: 1e-5, Activation: "gelu",
			Labels: []string{"a", "b"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bert.ParseConfig([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	bertCfg := func(extra string) string {
		return `{"model_type":"bert","hidden_size":64,"num_attention_heads":4,"intermediate_size":256` + extra + `}`
	}
	distilCfg := func(extra string) string {
		return `{"model_type":"distilbert","dim":64,"n_heads":4,"hidden_dim":256` + extra + `}`
	}
	tests := []struct {
		name      string
		json      string
		fragments []string
	}{
		{"unknown model_type", `{"model_type":"roberta"}`, []string{`model_type "roberta" is not supported`}},
		{"missing model_type", `{"hidden_size":64}`, []string{"model_type: missing"}},
		{"malformed JSON", `{"model_type":"bert",`, []string{"malformed JSON"}},
		{"not an object", `[1]`, []string{"JSON array, want an object"}},
		{"field of wrong type", bertCfg(`,"hidden_size":"64"`), []string{"hidden_size", "string"}},
		{"label of wrong type", bertCfg(`,"id2label":{"0":1}`), []string{"id2label: expected string"}},
		{"hidden not divisible", bertCfg(`,"num_attention_heads":5`), []string{"hidden_size 64 is not divisible by num_attention_heads 5"}},
		{"intermediate not divisible", bertCfg(`,"intermediate_size":250`), []string{"intermediate_size 250 is not divisible by num_attention_heads 4"}},
		{"distil dim not divisible", distilCfg(`,"n_heads":3`), []string{"dim 64 is not divisible by n_heads 3"}},
		{"distil hidden_dim not divisible", distilCfg(`,"hidden_dim":254`), []string{"hidden_dim 254 is not divisible by n_heads 4"}},
		{"zero layers", bertCfg(`,"num_hidden_layers":0`), []string{"num_hidden_layers must be positive, got 0"}},
		{"negative heads", distilCfg(`,"n_heads":-4`), []string{"n_heads must be positive, got -4"}},
		{"zero vocab", bertCfg(`,"vocab_size":0`), []string{"vocab_size must be positive"}},
		{"zero type vocab", bertCfg(`,"type_vocab_size":0`), []string{"type_vocab_size must be positive"}},
		{"zero eps", bertCfg(`,"layer_norm_eps":0`), []string{"layer_norm_eps must be positive"}},
		{"relu activation", bertCfg(`,"hidden_act":"relu"`), []string{`hidden_act "relu" is not supported`, `only "gelu"`}},
		{"tanh GELU", distilCfg(`,"activation":"gelu_new"`), []string{`activation "gelu_new" is not supported`}},
		{"pad outside vocab", bertCfg(`,"vocab_size":10,"pad_token_id":10`), []string{"pad_token_id 10 is outside the vocabulary [0,10)"}},
		{"non-integer label key", bertCfg(`,"id2label":{"zero":"a"}`), []string{`id2label: key "zero" is not an integer`}},
		{"sparse labels", bertCfg(`,"id2label":{"0":"a","2":"c"}`), []string{`id2label: key "2" is outside 0..1`}},
		{"repeated label id", bertCfg(`,"id2label":{"1":"a","01":"b"}`), []string{"id2label: label id 1 appears twice"}},
		{"empty labels", bertCfg(`,"id2label":{}`), []string{"id2label: empty"}},
		{"zero num_labels", bertCfg(`,"num_labels":0`), []string{"num_labels must be in [1,65536], got 0"}},
		{"huge num_labels", bertCfg(`,"num_labels":1000000000000000000`), []string{"num_labels must be in [1,65536], got 1000000000000000000"}},
		{"sinusoidal positions", distilCfg(`,"sinusoidal_pos_embds":true`), []string{"sinusoidal_pos_embds true is not supported"}},
		{"relative positions", bertCfg(`,"position_embedding_type":"relative_key"`), []string{`position_embedding_type "relative_key" is not supported`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bert.ParseConfig([]byte(tt.json))
			wantErr(t, err, tt.fragments...)
		})
	}
}

func TestLoadConfigErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "config.json")
	writeFile(t, bad, []byte(`{"model_type":"gpt2"}`))
	_, err := bert.LoadConfig(dir)
	wantErr(t, err, bad, `model_type "gpt2"`)

	missing := filepath.Join(dir, "nope", "config.json")
	_, err = bert.LoadConfig(missing)
	wantErr(t, err, missing)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %q does not wrap os.ErrNotExist", err)
	}
}

func TestConfigValidateRejectsUnknownType(t *testing.T) {
	c := &bert.Config{ModelType: "albert", VocabSize: 1, Hidden: 4, Layers: 1, Heads: 1, Intermediate: 4,
		MaxPosition: 4, TypeVocab: 1, LayerNormEps: 1e-12, Activation: "gelu", Labels: []string{"x"}}
	wantErr(t, c.Validate(), `model_type "albert"`)
	c.ModelType = bert.TypeBERT
	if err := c.Validate(); err != nil {
		t.Errorf("Validate of a sound BERT config: %v", err)
	}
	c.ModelType = bert.TypeDistilBERT
	wantErr(t, c.Validate(), "type_vocab_size", "must be 0")
}

func ExampleParseConfig() {
	cfg, err := bert.ParseConfig([]byte(`{
		"model_type": "distilbert", "dim": 64, "n_layers": 3, "n_heads": 4, "hidden_dim": 256,
		"id2label": {"0": "NEGATIVE", "1": "POSITIVE"}
	}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.ModelType, cfg.Hidden, cfg.HeadDim(), cfg.FFNSlice(), cfg.Labels)
	// Output: distilbert 64 16 64 [NEGATIVE POSITIVE]
}
