package bert

import (
	"fmt"
	"math"
)

// Model types this package runs.
const (
	TypeBERT       = "bert"
	TypeDistilBERT = "distilbert"
)

// ProblemType says how a classifier's logits become scores, as the
// problem_type of a Hugging Face config does.
type ProblemType string

// The problem types of transformers' sequence classifiers.
const (
	// SingleLabel: one label per input, a softmax over the logits.
	SingleLabel ProblemType = "single_label_classification"
	// MultiLabel: any number of labels per input, a sigmoid per logit.
	MultiLabel ProblemType = "multi_label_classification"
	// Regression: the logits are the answer (a regression value, or a
	// reranker's relevance score).
	Regression ProblemType = "regression"
)

// Config is the architecture of a model, read from a Hugging Face
// config.json (both BERT and DistilBERT spellings map onto it).
type Config struct {
	ModelType    string   `json:"model_type"` // TypeBERT or TypeDistilBERT
	VocabSize    int      `json:"vocab_size"`
	Hidden       int      `json:"hidden"`
	Layers       int      `json:"layers"`
	Heads        int      `json:"heads"`
	Intermediate int      `json:"intermediate"`
	MaxPosition  int      `json:"max_position"`
	TypeVocab    int      `json:"type_vocab"` // 0 for DistilBERT
	LayerNormEps float64  `json:"layer_norm_eps"`
	Activation   string   `json:"activation"` // "gelu" (erf)
	Labels       []string `json:"labels"`     // index = class id, from id2label
	PadTokenID   int      `json:"pad_token_id"`
	// ProblemType is the head's problem_type; empty means the default
	// (see Problem).
	ProblemType ProblemType `json:"problem_type,omitempty"`
}

// Problem returns how the head's logits become scores: ProblemType when
// set, else as transformers decides for a config without problem_type,
// Regression for a single output and SingleLabel otherwise.
func (c *Config) Problem() ProblemType {
	if c.ProblemType != "" {
		return c.ProblemType
	}
	if len(c.Labels) == 1 {
		return Regression
	}
	return SingleLabel
}

// MaxLabels is the most output classes a Config may have. It bounds what
// a config.json's num_labels can make ParseConfig allocate.
const MaxLabels = 1 << 16

// HeadDim is the width of one attention head.
func (c *Config) HeadDim() int { return c.Hidden / c.Heads }

// FFNSlice is the number of intermediate units in one shard.
func (c *Config) FFNSlice() int { return c.Intermediate / c.Heads }

// hfKey returns the config.json key that holds a Config field for this model
// type, so that validation errors point at what the user must fix.
func (c *Config) hfKey(field string) string {
	keys := bertKeys
	if c.ModelType == TypeDistilBERT {
		keys = distilKeys
	}
	if k, ok := keys[field]; ok {
		return k
	}
	return field
}

var bertKeys = map[string]string{
	"VocabSize":    "vocab_size",
	"Hidden":       "hidden_size",
	"Layers":       "num_hidden_layers",
	"Heads":        "num_attention_heads",
	"Intermediate": "intermediate_size",
	"MaxPosition":  "max_position_embeddings",
	"TypeVocab":    "type_vocab_size",
	"LayerNormEps": "layer_norm_eps",
	"Activation":   "hidden_act",
	"Labels":       "id2label",
	"PadTokenID":   "pad_token_id",
	"ProblemType":  "problem_type",
}

var distilKeys = map[string]string{
	"VocabSize":    "vocab_size",
	"Hidden":       "dim",
	"Layers":       "n_layers",
	"Heads":        "n_heads",
	"Intermediate": "hidden_dim",
	"MaxPosition":  "max_position_embeddings",
	"TypeVocab":    "type_vocab_size (DistilBERT has no token types)",
	"LayerNormEps": "layer_norm_eps (fixed at 1e-12 for DistilBERT)",
	"Activation":   "activation",
	"Labels":       "id2label",
	"PadTokenID":   "pad_token_id",
	"ProblemType":  "problem_type",
}

// Validate reports the first inconsistency in c: an unsupported model type
// or activation, a non-positive size, a hidden or intermediate size that the
// heads do not divide, or a missing label set. Errors name the config.json
// key to fix.
func (c *Config) Validate() error {
	switch c.ModelType {
	case TypeBERT, TypeDistilBERT:
	default:
		return fmt.Errorf("model_type %q is not supported (supported: %q, %q)", c.ModelType, TypeBERT, TypeDistilBERT)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"VocabSize", c.VocabSize},
		{"Hidden", c.Hidden},
		{"Layers", c.Layers},
		{"Heads", c.Heads},
		{"Intermediate", c.Intermediate},
		{"MaxPosition", c.MaxPosition},
	} {
		if f.v <= 0 {
			return fmt.Errorf("%s must be positive, got %d", c.hfKey(f.name), f.v)
		}
	}
	if c.ModelType == TypeBERT && c.TypeVocab <= 0 {
		return fmt.Errorf("%s must be positive for BERT, got %d", c.hfKey("TypeVocab"), c.TypeVocab)
	}
	if c.ModelType == TypeDistilBERT && c.TypeVocab != 0 {
		return fmt.Errorf("%s must be 0, got %d", c.hfKey("TypeVocab"), c.TypeVocab)
	}
	if c.Hidden%c.Heads != 0 {
		return fmt.Errorf("%s %d is not divisible by %s %d", c.hfKey("Hidden"), c.Hidden, c.hfKey("Heads"), c.Heads)
	}
	// A shard holds one Heads-th of the FFN, so the heads must divide it too.
	if c.Intermediate%c.Heads != 0 {
		return fmt.Errorf("%s %d is not divisible by %s %d (each head shard holds an equal slice of the FFN)",
			c.hfKey("Intermediate"), c.Intermediate, c.hfKey("Heads"), c.Heads)
	}
	if !(c.LayerNormEps > 0) || math.IsInf(c.LayerNormEps, 0) {
		return fmt.Errorf("%s must be positive and finite, got %g", c.hfKey("LayerNormEps"), c.LayerNormEps)
	}
	if c.Activation != "gelu" {
		return fmt.Errorf("%s %q is not supported: only \"gelu\" (the exact erf GELU) is implemented", c.hfKey("Activation"), c.Activation)
	}
	if len(c.Labels) == 0 {
		return fmt.Errorf("%s: no labels; a classifier needs at least one", c.hfKey("Labels"))
	}
	switch c.ProblemType {
	case "", SingleLabel, MultiLabel, Regression:
	default:
		return fmt.Errorf("%s %q is not supported (supported: %q, %q, %q)", c.hfKey("ProblemType"), c.ProblemType, SingleLabel, MultiLabel, Regression)
	}
	if len(c.Labels) > MaxLabels {
		return fmt.Errorf("%s: %d labels, more than the %d this package accepts", c.hfKey("Labels"), len(c.Labels), MaxLabels)
	}
	if c.PadTokenID < 0 || c.PadTokenID >= c.VocabSize {
		return fmt.Errorf("%s %d is outside the vocabulary [0,%d)", c.hfKey("PadTokenID"), c.PadTokenID, c.VocabSize)
	}
	return nil
}
