package bert

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ConfigFile is the name of the Hugging Face configuration file in a model
// directory.
const ConfigFile = "config.json"

// LoadConfig reads and validates a Hugging Face config.json. path is the file
// itself or the model directory that holds it. Errors name the file and the
// offending key.
func LoadConfig(path string) (*Config, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, ConfigFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bert: read config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("bert: config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses and validates the contents of a Hugging Face
// config.json for model_type "bert" or "distilbert". Keys the file leaves
// out take the defaults of the Hugging Face BertConfig and DistilBertConfig
// classes, as transformers does. Labels come from id2label, whose keys must
// be exactly 0..n-1; without id2label, num_labels (default 2) labels named
// LABEL_0, LABEL_1, ... are made, again as transformers does. problem_type
// (single_label_classification, multi_label_classification or regression)
// says how the logits become scores; without it a model with one label is
// a regression and one with more a single-label classifier (Config.Problem).
func ParseConfig(data []byte) (*Config, error) {
	var head struct {
		ModelType *string `json:"model_type"`
	}
	if err := unmarshalConfig(data, &head); err != nil {
		return nil, err
	}
	if head.ModelType == nil {
		return nil, errors.New("model_type: missing (want \"bert\" or \"distilbert\")")
	}
	var (
		cfg *Config
		err error
	)
	switch *head.ModelType {
	case TypeBERT:
		cfg, err = parseBERT(data)
	case TypeDistilBERT:
		cfg, err = parseDistilBERT(data)
	default:
		return nil, fmt.Errorf("model_type %q is not supported (supported: %q, %q)", *head.ModelType, TypeBERT, TypeDistilBERT)
	}
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// hfLabels is the label part common to every Hugging Face config.
type hfLabels struct {
	ID2Label    map[string]string `json:"id2label"`
	NumLabels   *int              `json:"num_labels"`
	ProblemType *string           `json:"problem_type"`
}

type hfBERT struct {
	hfLabels
	VocabSize             *int     `json:"vocab_size"`
	HiddenSize            *int     `json:"hidden_size"`
	NumHiddenLayers       *int     `json:"num_hidden_layers"`
	NumAttentionHeads     *int     `json:"num_attention_heads"`
	IntermediateSize      *int     `json:"intermediate_size"`
	MaxPositionEmbeddings *int     `json:"max_position_embeddings"`
	TypeVocabSize         *int     `json:"type_vocab_size"`
	LayerNormEps          *float64 `json:"layer_norm_eps"`
	HiddenAct             *string  `json:"hidden_act"`
	PadTokenID            *int     `json:"pad_token_id"`
	PositionEmbeddingType *string  `json:"position_embedding_type"`
}

type hfDistilBERT struct {
	hfLabels
	VocabSize             *int    `json:"vocab_size"`
	Dim                   *int    `json:"dim"`
	NLayers               *int    `json:"n_layers"`
	NHeads                *int    `json:"n_heads"`
	HiddenDim             *int    `json:"hidden_dim"`
	MaxPositionEmbeddings *int    `json:"max_position_embeddings"`
	Activation            *string `json:"activation"`
	PadTokenID            *int    `json:"pad_token_id"`
	SinusoidalPosEmbds    *bool   `json:"sinusoidal_pos_embds"`
}

func parseBERT(data []byte) (*Config, error) {
	var h hfBERT
	if err := unmarshalConfig(data, &h); err != nil {
		return nil, err
	}
	if pet := or(h.PositionEmbeddingType, "absolute"); pet != "absolute" {
		return nil, fmt.Errorf("position_embedding_type %q is not supported: only \"absolute\" is implemented", pet)
	}
	labels, err := h.labels()
	if err != nil {
		return nil, err
	}
	// Defaults are those of transformers.BertConfig.
	return &Config{
		ModelType:    TypeBERT,
		VocabSize:    or(h.VocabSize, 30522),
		Hidden:       or(h.HiddenSize, 768),
		Layers:       or(h.NumHiddenLayers, 12),
		Heads:        or(h.NumAttentionHeads, 12),
		Intermediate: or(h.IntermediateSize, 3072),
		MaxPosition:  or(h.MaxPositionEmbeddings, 512),
		TypeVocab:    or(h.TypeVocabSize, 2),
		LayerNormEps: or(h.LayerNormEps, 1e-12),
		Activation:   or(h.HiddenAct, "gelu"),
		Labels:       labels,
		PadTokenID:   or(h.PadTokenID, 0),
		ProblemType:  ProblemType(or(h.ProblemType, "")),
	}, nil
}

func parseDistilBERT(data []byte) (*Config, error) {
	var h hfDistilBERT
	if err := unmarshalConfig(data, &h); err != nil {
		return nil, err
	}
	if or(h.SinusoidalPosEmbds, false) {
		return nil, errors.New("sinusoidal_pos_embds true is not supported: only learned position embeddings are implemented")
	}
	labels, err := h.labels()
	if err != nil {
		return nil, err
	}
	// Defaults are those of transformers.DistilBertConfig. Its LayerNorms
	// use a fixed eps of 1e-12 that the config cannot change.
	return &Config{
		ModelType:    TypeDistilBERT,
		VocabSize:    or(h.VocabSize, 30522),
		Hidden:       or(h.Dim, 768),
		Layers:       or(h.NLayers, 6),
		Heads:        or(h.NHeads, 12),
		Intermediate: or(h.HiddenDim, 3072),
		MaxPosition:  or(h.MaxPositionEmbeddings, 512),
		LayerNormEps: 1e-12,
		Activation:   or(h.Activation, "gelu"),
		Labels:       labels,
		PadTokenID:   or(h.PadTokenID, 0),
		ProblemType:  ProblemType(or(h.ProblemType, "")),
	}, nil
}

// labels follows transformers.PretrainedConfig: id2label wins when present
// (num_labels is then ignored); otherwise num_labels, default 2, names the
// labels LABEL_i.
func (h *hfLabels) labels() ([]string, error) {
	if h.ID2Label == nil {
		n := or(h.NumLabels, 2)
		if n <= 0 || n > MaxLabels {
			return nil, fmt.Errorf("num_labels must be in [1,%d], got %d", MaxLabels, n)
		}
		labels := make([]string, n)
		for i := range labels {
			labels[i] = "LABEL_" + strconv.Itoa(i)
		}
		return labels, nil
	}
	n := len(h.ID2Label)
	if n == 0 {
		return nil, errors.New("id2label: empty; a classifier needs at least one label")
	}
	labels := make([]string, n)
	seen := make([]bool, n)
	for k, v := range h.ID2Label {
		id, err := strconv.Atoi(k)
		if err != nil {
			return nil, fmt.Errorf("id2label: key %q is not an integer", k)
		}
		if id < 0 || id >= n {
			return nil, fmt.Errorf("id2label: key %q is outside 0..%d; label ids must be dense", k, n-1)
		}
		if seen[id] {
			return nil, fmt.Errorf("id2label: label id %d appears twice", id)
		}
		seen[id] = true
		labels[id] = v
	}
	return labels, nil
}

// unmarshalConfig decodes data into v, turning encoding/json's errors into
// ones that name the config key.
func unmarshalConfig(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Errorf("the file is a JSON %s, want an object: %w", te.Value, err)
		}
		field := strings.TrimPrefix(te.Field, "hfLabels.")
		return fmt.Errorf("%s: expected %s, got JSON %s: %w", field, te.Type, te.Value, err)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("malformed JSON at byte %d: %w", se.Offset, err)
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

func or[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
