package bert

// Model types this package runs.
const (
	TypeBERT       = "bert"
	TypeDistilBERT = "distilbert"
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
}

// HeadDim is the width of one attention head.
func (c *Config) HeadDim() int { return c.Hidden / c.Heads }

// FFNSlice is the number of intermediate units in one shard.
func (c *Config) FFNSlice() int { return c.Intermediate / c.Heads }
