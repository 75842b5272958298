package bert_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
)

// FuzzHFConfig feeds arbitrary bytes to ParseConfig as a config.json.
// Whatever the input it must not panic or allocate without bound (a
// num_labels of 10^18 must be refused, not made), and an accepted config
// must validate, with at least one label.
func FuzzHFConfig(f *testing.F) {
	for _, s := range []string{
		`{"model_type":"bert"}`,
		`{"model_type":"distilbert","n_heads":4,"dim":8,"hidden_dim":16}`,
		`{"model_type":"bert","num_labels":3}`,
		`{"model_type":"bert","id2label":{"0":"NEG","1":"POS"}}`,
		`{"model_type":"bert","id2label":{"1":"a","2":"b"}}`,
		`{"model_type":"bert","num_labels":1000000000000000000}`,
		`{"model_type":"bert","hidden_size":7,"num_attention_heads":2}`,
		`{"model_type":"bert","layer_norm_eps":-1}`,
		`{"model_type":"gpt2"}`,
		`[1,2]`,
		`{"model_type":"bert","vocab_size":"many"}`,
	} {
		f.Add([]byte(s))
	}
	if d := shared.Dir(); d != "" {
		for _, m := range []string{"tiny-bert", "tiny-distilbert"} {
			if b, err := os.ReadFile(filepath.Join(d, "fixtures", m, bert.ConfigFile)); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := bert.ParseConfig(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ParseConfig(%q) accepted a config that does not validate: %v", data, err)
		}
		if len(cfg.Labels) == 0 || len(cfg.Labels) > bert.MaxLabels {
			t.Fatalf("ParseConfig(%q): %d labels", data, len(cfg.Labels))
		}
	})
}
