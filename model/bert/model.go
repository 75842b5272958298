// Package bert holds the BERT and DistilBERT sequence classifiers: their
// Hugging Face configuration, tokenizer and safetensors import, and the
// forward pass written as a sum over head shards.
//
// A layer of M heads is cut into M shards. Shard h holds the Q, K and V
// projection rows of head h with their bias slices, the columns of the
// attention output projection that read head h, and one M-th of the
// feed-forward network (slice h of the up projection with its bias slice and
// the matching columns of the down projection). Each shard is kept as two
// parts, AttentionShard and FFNShard, because the FFN of a layer needs the
// normalised output of the whole attention half. A layer's output is the sum
// of its shards' contributions plus its small resident parts; a missing shard
// contributes zero.
package bert

import "github.com/wrxlabs/wrx/backend"

// AttentionShard is the attention part of one head shard.
type AttentionShard struct {
	Query, Key, Value backend.Matrix // each HeadDim×Hidden
	QueryBias         []float32      // HeadDim
	KeyBias           []float32      // HeadDim
	ValueBias         []float32      // HeadDim
	Output            backend.Matrix // Hidden×HeadDim: the output projection's columns for this head
}

// FFNShard is the feed-forward part of one head shard: FFNSlice =
// Intermediate/Heads units of the intermediate layer.
type FFNShard struct {
	Up     backend.Matrix // FFNSlice×Hidden
	UpBias []float32      // FFNSlice
	Down   backend.Matrix // Hidden×FFNSlice
}

// LayerResident holds the parts of a layer that every shard shares and that
// stay resident: output biases and LayerNorm parameters.
type LayerResident struct {
	AttnOutputBias []float32 // Hidden
	AttnNormWeight []float32 // Hidden
	AttnNormBias   []float32 // Hidden
	FFNOutputBias  []float32 // Hidden
	FFNNormWeight  []float32 // Hidden
	FFNNormBias    []float32 // Hidden
}

// Layer is one encoder layer: its resident parts and its Heads shards. A nil
// shard is absent and contributes zero.
type Layer struct {
	Resident  LayerResident
	Attention []*AttentionShard
	FFN       []*FFNShard

	fused *fusedLayer // set by Model.Fuse when every shard is dense
}

// Embeddings holds the input embedding parameters. Word rows are looked up
// through a WordEmbeddings so that a store can serve only the rows a request
// needs.
type Embeddings struct {
	Word       WordEmbeddings
	Position   []float32 // MaxPosition×Hidden, or fewer rows where fewer positions are used
	TokenType  []float32 // TypeVocab×Hidden; nil for DistilBERT
	NormWeight []float32 // Hidden
	NormBias   []float32 // Hidden
}

// Head is the classification head. BERT runs pooler (dense + tanh) then the
// classifier; DistilBERT runs pre_classifier (dense + ReLU) then the
// classifier. Both are a dense layer over the first token, an activation,
// and a final dense layer, so one struct serves both.
type Head struct {
	Dense          *backend.Dense // Hidden×Hidden: pooler or pre_classifier
	DenseBias      []float32      // Hidden
	Classifier     *backend.Dense // Labels×Hidden
	ClassifierBias []float32      // Labels
}

// Model is a complete sequence classifier: configuration, embeddings, layers
// and head. Layers may have absent shards.
type Model struct {
	Config     *Config
	Embeddings Embeddings
	Layers     []Layer
	Head       Head
}
