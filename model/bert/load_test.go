package bert_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
)

// hfNames spells the Hugging Face parameter names of an architecture, written
// out here independently of the loader's own table.
type hfNames struct {
	word, pos, typ, embNorm        string
	q, k, v, o, attnNorm, up, down string
	ffnNorm, headDense, classifier string
	layer                          func(i int) string
}

func namesOf(modelType, prefix string) hfNames {
	if modelType == "distilbert" {
		return hfNames{
			word: prefix + "embeddings.word_embeddings.weight", pos: prefix + "embeddings.position_embeddings.weight",
			embNorm: prefix + "embeddings.LayerNorm",
			layer:   func(i int) string { return fmt.Sprintf("%stransformer.layer.%d.", prefix, i) },
			q:       "attention.q_lin", k: "attention.k_lin", v: "attention.v_lin", o: "attention.out_lin",
			attnNorm: "sa_layer_norm", up: "ffn.lin1", down: "ffn.lin2", ffnNorm: "output_layer_norm",
			headDense: "pre_classifier", classifier: "classifier",
		}
	}
	return hfNames{
		word: prefix + "embeddings.word_embeddings.weight", pos: prefix + "embeddings.position_embeddings.weight",
		typ: prefix + "embeddings.token_type_embeddings.weight", embNorm: prefix + "embeddings.LayerNorm",
		layer: func(i int) string { return fmt.Sprintf("%sencoder.layer.%d.", prefix, i) },
		q:     "attention.self.query", k: "attention.self.key", v: "attention.self.value", o: "attention.output.dense",
		attnNorm: "attention.output.LayerNorm", up: "intermediate.dense", down: "output.dense", ffnNorm: "output.LayerNorm",
		headDense: prefix + "pooler.dense", classifier: "classifier",
	}
}

// checkShards compares every shard, resident vector, embedding table and
// head matrix of m with slices cut by hand from the raw tensors.
func checkShards(t *testing.T, m *bert.Model, raw map[string]rawTensor, n hfNames) {
	t.Helper()
	c := m.Config
	H, I, d, f := c.Hidden, c.Intermediate, c.Hidden/c.Heads, c.Intermediate/c.Heads
	get := func(name string) []float32 {
		r, ok := raw[name]
		if !ok {
			t.Fatalf("raw tensor %s missing", name)
		}
		return r.data
	}
	same := func(what string, want, got []float32) {
		t.Helper()
		if i := firstBitDiff(want, got); i >= 0 {
			t.Fatalf("%s differs from the raw tensor at element %d (len want %d, got %d)", what, i, len(want), len(got))
		}
	}
	dense := func(what string, mat backend.Matrix, rows, cols int, at func(r, c int) float32) {
		t.Helper()
		dm, ok := mat.(*backend.Dense)
		if !ok {
			t.Fatalf("%s is %T, want *backend.Dense", what, mat)
		}
		if dm.N != rows || dm.K != cols {
			t.Fatalf("%s is %d×%d, want %d×%d", what, dm.N, dm.K, rows, cols)
		}
		want := make([]float32, 0, rows*cols)
		for r := range rows {
			for c := range cols {
				want = append(want, at(r, c))
			}
		}
		same(what, want, dm.Data)
	}
	word, ok := m.Embeddings.Word.(*bert.DenseWordEmbeddings)
	if !ok {
		t.Fatalf("word embeddings are %T, want *bert.DenseWordEmbeddings", m.Embeddings.Word)
	}
	same("word embeddings", get(n.word), word.Data)
	same("position embeddings", get(n.pos), m.Embeddings.Position)
	if n.typ != "" {
		same("token type embeddings", get(n.typ), m.Embeddings.TokenType)
	} else if m.Embeddings.TokenType != nil {
		t.Errorf("token type embeddings present for %s", c.ModelType)
	}
	same("embedding LayerNorm weight", get(n.embNorm+".weight"), m.Embeddings.NormWeight)
	same("embedding LayerNorm bias", get(n.embNorm+".bias"), m.Embeddings.NormBias)
	if len(m.Layers) != c.Layers {
		t.Fatalf("%d layers, want %d", len(m.Layers), c.Layers)
	}
	for i, l := range m.Layers {
		p := n.layer(i)
		r := l.Resident
		same(p+"attention output bias", get(p+n.o+".bias"), r.AttnOutputBias)
		same(p+"attention norm weight", get(p+n.attnNorm+".weight"), r.AttnNormWeight)
		same(p+"attention norm bias", get(p+n.attnNorm+".bias"), r.AttnNormBias)
		same(p+"FFN output bias", get(p+n.down+".bias"), r.FFNOutputBias)
		same(p+"output norm weight", get(p+n.ffnNorm+".weight"), r.FFNNormWeight)
		same(p+"output norm bias", get(p+n.ffnNorm+".bias"), r.FFNNormBias)
		if len(l.Attention) != c.Heads || len(l.FFN) != c.Heads {
			t.Fatalf("layer %d: %d/%d shards, want %d", i, len(l.Attention), len(l.FFN), c.Heads)
		}
		q, k, v, o := get(p+n.q+".weight"), get(p+n.k+".weight"), get(p+n.v+".weight"), get(p+n.o+".weight")
		up, down := get(p+n.up+".weight"), get(p+n.down+".weight")
		for h := range c.Heads {
			s := l.Attention[h]
			what := fmt.Sprintf("layer %d head %d ", i, h)
			// Q, K, V: output rows h*d.. of the [out×in] projections.
			dense(what+"query", s.Query, d, H, func(r, c int) float32 { return q[(h*d+r)*H+c] })
			dense(what+"key", s.Key, d, H, func(r, c int) float32 { return k[(h*d+r)*H+c] })
			dense(what+"value", s.Value, d, H, func(r, c int) float32 { return v[(h*d+r)*H+c] })
			same(what+"query bias", get(p + n.q + ".bias")[h*d:(h+1)*d], s.QueryBias)
			same(what+"key bias", get(p + n.k + ".bias")[h*d:(h+1)*d], s.KeyBias)
			same(what+"value bias", get(p + n.v + ".bias")[h*d:(h+1)*d], s.ValueBias)
			// Output: the input columns h*d.. of the [out×in] projection.
			dense(what+"output", s.Output, H, d, func(r, c int) float32 { return o[r*H+h*d+c] })
			fs := l.FFN[h]
			dense(what+"up", fs.Up, f, H, func(r, c int) float32 { return up[(h*f+r)*H+c] })
			same(what+"up bias", get(p + n.up + ".bias")[h*f:(h+1)*f], fs.UpBias)
			dense(what+"down", fs.Down, H, f, func(r, c int) float32 { return down[r*I+h*f+c] })
		}
	}
	hd := get(n.headDense + ".weight")
	dense("head dense", m.Head.Dense, H, H, func(r, c int) float32 { return hd[r*H+c] })
	same("head dense bias", get(n.headDense+".bias"), m.Head.DenseBias)
	cl := get(n.classifier + ".weight")
	dense("classifier", m.Head.Classifier, len(c.Labels), H, func(r, c int) float32 { return cl[r*H+c] })
	same("classifier bias", get(n.classifier+".bias"), m.Head.ClassifierBias)
}

func TestLoadFixtures(t *testing.T) {
	for _, elem := range fixtureModels {
		t.Run(elem[1], func(t *testing.T) {
			dir := shared.Path(t, elem...)
			m, err := bert.Load(dir, bert.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Validate(); err != nil {
				t.Errorf("Validate of a loaded model: %v", err)
			}
			prefix := m.Config.ModelType + "."
			checkShards(t, m, readRawF32(t, filepath.Join(dir, bert.SafetensorsFile)), namesOf(m.Config.ModelType, prefix))
		})
	}
}

// synth describes a small synthetic checkpoint.
type synth struct {
	modelType string
	prefix    string // "bert." / "distilbert." or "" for a bare encoder
	dtype     string // F32, F16 or BF16 for every tensor
	labels    int
}

const (
	synHidden, synHeads, synLayers, synInter = 8, 2, 2, 12
	synVocab, synPos, synTypes               = 11, 6, 2
)

func (s synth) config() string {
	labels := make([]string, s.labels)
	for i := range labels {
		labels[i] = fmt.Sprintf("%q:\"L%d\"", strconv.Itoa(i), i)
	}
	id2label := "{" + strings.Join(labels, ",") + "}"
	if s.modelType == "distilbert" {
		return fmt.Sprintf(`{"model_type":"distilbert","dim":%d,"n_heads":%d,"n_layers":%d,"hidden_dim":%d,
			"vocab_size":%d,"max_position_embeddings":%d,"id2label":%s}`,
			synHidden, synHeads, synLayers, synInter, synVocab, synPos, id2label)
	}
	return fmt.Sprintf(`{"model_type":"bert","hidden_size":%d,"num_attention_heads":%d,"num_hidden_layers":%d,
		"intermediate_size":%d,"vocab_size":%d,"max_position_embeddings":%d,"type_vocab_size":%d,"id2label":%s}`,
		synHidden, synHeads, synLayers, synInter, synVocab, synPos, synTypes, id2label)
}

// tensors lists every tensor with its shape, in a fixed order.
func (s synth) tensors() []stTensor {
	n := namesOf(s.modelType, s.prefix)
	H, I := synHidden, synInter
	var ts []stTensor
	add := func(name string, shape ...int) { ts = append(ts, stTensor{name: name, dtype: s.dtype, shape: shape}) }
	add(n.word, synVocab, H)
	add(n.pos, synPos, H)
	if n.typ != "" {
		add(n.typ, synTypes, H)
	}
	add(n.embNorm+".weight", H)
	add(n.embNorm+".bias", H)
	for i := range synLayers {
		p := n.layer(i)
		for _, lin := range []struct {
			name    string
			out, in int
		}{{n.q, H, H}, {n.k, H, H}, {n.v, H, H}, {n.o, H, H}, {n.up, I, H}, {n.down, H, I}} {
			add(p+lin.name+".weight", lin.out, lin.in)
			add(p+lin.name+".bias", lin.out)
		}
		for _, norm := range []string{n.attnNorm, n.ffnNorm} {
			add(p+norm+".weight", H)
			add(p+norm+".bias", H)
		}
	}
	add(n.headDense+".weight", H, H)
	add(n.headDense+".bias", H)
	add(n.classifier+".weight", s.labels, H)
	add(n.classifier+".bias", s.labels)
	return ts
}

// synValue is element e of tensor j: a small integer, exact in F16 and BF16.
func synValue(j, e int) float32 { return float32((j*37+e*11)%61 - 30) }

// encode fills in every tensor's bytes from synValue and returns the raw
// float32 values too, for comparison.
func encode(tb testing.TB, ts []stTensor) map[string]rawTensor {
	tb.Helper()
	raw := map[string]rawTensor{}
	for j := range ts {
		t := &ts[j]
		n := 1
		for _, d := range t.shape {
			n *= d
		}
		v := make([]float32, n)
		t.data = t.data[:0]
		for e := range v {
			v[e] = synValue(j, e)
			bits := math.Float32bits(v[e])
			switch t.dtype {
			case "F32":
				t.data = binary.LittleEndian.AppendUint32(t.data, bits)
			case "BF16":
				t.data = binary.LittleEndian.AppendUint16(t.data, uint16(bits>>16))
			case "F16":
				t.data = binary.LittleEndian.AppendUint16(t.data, f16Of(tb, v[e]))
			default:
				t.data = append(t.data, make([]byte, 4)...)
			}
		}
		raw[t.name] = rawTensor{shape: t.shape, data: v}
	}
	return raw
}

// f16Of encodes a small integer as binary16 by the standard's layout: for
// |v| in [2^e, 2^(e+1)) the biased exponent is e+15 and the ten fraction bits
// are (|v|/2^e - 1)·1024.
func f16Of(tb testing.TB, v float32) uint16 {
	if v != float32(int(v)) || math.Abs(float64(v)) > 1024 {
		tb.Fatalf("f16Of(%g): only small integers", v)
	}
	var sign uint16
	if v < 0 {
		sign, v = 0x8000, -v
	}
	if v == 0 {
		return sign
	}
	e := 0
	for float32(int(1)<<(e+1)) <= v {
		e++
	}
	frac := (float64(v)/float64(int(1)<<e) - 1) * 1024
	return sign | uint16(e+15)<<10 | uint16(frac)
}

// write puts config.json and model.safetensors into a new directory and
// returns it with the raw values.
func (s synth) write(tb testing.TB) (string, map[string]rawTensor) {
	tb.Helper()
	dir := tb.TempDir()
	ts := s.tensors()
	raw := encode(tb, ts)
	writeFile(tb, filepath.Join(dir, bert.ConfigFile), []byte(s.config()))
	writeFile(tb, filepath.Join(dir, bert.SafetensorsFile), stBuild(tb, ts))
	return dir, raw
}

func TestLoadSynthetic(t *testing.T) {
	tests := []synth{
		{"bert", "bert.", "F32", 3},
		{"bert", "bert.", "F16", 2},
		{"bert", "bert.", "BF16", 1},
		{"bert", "", "F32", 2},
		{"distilbert", "distilbert.", "F16", 2},
		{"distilbert", "distilbert.", "BF16", 4},
		{"distilbert", "", "F32", 2},
	}
	for _, s := range tests {
		t.Run(fmt.Sprintf("%s_prefix=%q_%s", s.modelType, s.prefix, s.dtype), func(t *testing.T) {
			dir, raw := s.write(t)
			m, err := bert.Load(dir, bert.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			checkShards(t, m, raw, namesOf(s.modelType, s.prefix))
		})
	}
}

func TestLoadShardedCheckpoint(t *testing.T) {
	s := synth{"bert", "bert.", "F32", 2}
	dir := t.TempDir()
	ts := s.tensors()
	raw := encode(t, ts)
	// Split the tensors over three files, one of them in BF16, as a
	// sharded Hugging Face checkpoint would.
	files := [][]stTensor{nil, nil, nil}
	var weightMap []string
	for j, tensor := range ts {
		f := j % 3
		files[f] = append(files[f], tensor)
		weightMap = append(weightMap, fmt.Sprintf("%q:\"model-%05d-of-00003.safetensors\"", tensor.name, f+1))
	}
	for f, part := range files {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("model-%05d-of-00003.safetensors", f+1)), stBuild(t, part))
	}
	writeFile(t, filepath.Join(dir, bert.SafetensorsIndexFile), []byte(`{"metadata":{},"weight_map":{`+strings.Join(weightMap, ",")+`}}`))
	writeFile(t, filepath.Join(dir, bert.ConfigFile), []byte(s.config()))
	m, err := bert.Load(dir, bert.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkShards(t, m, raw, namesOf(s.modelType, s.prefix))

	// An index that names a file that is not there.
	if err := os.Remove(filepath.Join(dir, "model-00002-of-00003.safetensors")); err != nil {
		t.Fatal(err)
	}
	_, err = bert.Load(dir, bert.LoadOptions{})
	wantErr(t, err, "model-00002-of-00003.safetensors", "no such file")
}

func TestLoadErrors(t *testing.T) {
	base := synth{"bert", "bert.", "F32", 2}
	// edit builds a checkpoint from base whose tensors went through fix.
	edit := func(fix func(ts []stTensor) []stTensor) func(t *testing.T) string {
		return func(t *testing.T) string {
			dir, _ := base.write(t)
			ts := base.tensors()
			encode(t, ts)
			writeFile(t, filepath.Join(dir, bert.SafetensorsFile), stBuild(t, fix(ts)))
			return dir
		}
	}
	find := func(ts []stTensor, name string) *stTensor {
		for i := range ts {
			if ts[i].name == name {
				return &ts[i]
			}
		}
		panic("no tensor " + name)
	}
	withFile := func(name string, data func(dir string) []byte) func(t *testing.T) string {
		return func(t *testing.T) string {
			dir, _ := base.write(t)
			writeFile(t, filepath.Join(dir, name), data(dir))
			return dir
		}
	}
	weights := func(dir string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, bert.SafetensorsFile))
		if err != nil {
			panic(err)
		}
		return b
	}
	tests := []struct {
		name      string
		setup     func(t *testing.T) string
		fragments func(dir string) []string
	}{
		{"missing tensor", edit(func(ts []stTensor) []stTensor {
			var out []stTensor
			for _, x := range ts {
				if x.name != "bert.encoder.layer.1.attention.self.key.bias" {
					out = append(out, x)
				}
			}
			return out
		}), func(string) []string {
			return []string{`tensor "bert.encoder.layer.1.attention.self.key.bias" is missing`}
		}},
		{"wrong shape", edit(func(ts []stTensor) []stTensor {
			find(ts, "bert.encoder.layer.0.intermediate.dense.weight").shape = []int{synHidden, synInter}
			return ts
		}), func(string) []string {
			return []string{`tensor "bert.encoder.layer.0.intermediate.dense.weight" has shape [8 12], want [12 8]`}
		}},
		{"labels disagree with classifier", edit(func(ts []stTensor) []stTensor {
			c := find(ts, "classifier.weight")
			c.shape, c.data = []int{1, synHidden}, c.data[:4*synHidden]
			return ts
		}), func(string) []string {
			return []string{`tensor "classifier.weight" has shape [1 8], want [2 8]`}
		}},
		{"integer tensor", edit(func(ts []stTensor) []stTensor {
			find(ts, "bert.pooler.dense.bias").dtype = "I32"
			return ts
		}), func(string) []string {
			return []string{`tensor "bert.pooler.dense.bias" has dtype I32, want F32, F16 or BF16`}
		}},
		{"wrong prefix", edit(func(ts []stTensor) []stTensor {
			for i := range ts {
				ts[i].name = "roberta." + strings.TrimPrefix(ts[i].name, "bert.")
			}
			return ts
		}), func(string) []string {
			return []string{`tensor "bert.embeddings.word_embeddings.weight" is missing`, "more tensor problems"}
		}},
		{"truncated weights", withFile(bert.SafetensorsFile, func(dir string) []byte {
			b := weights(dir)
			return b[:len(b)-10]
		}), func(dir string) []string {
			return []string{filepath.Join(dir, bert.SafetensorsFile), `tensor "classifier.bias"`, "past the end"}
		}},
		{"header lies about offsets", withFile(bert.SafetensorsFile, func(string) []byte {
			return stRaw(`{"bert.pooler.dense.bias":{"dtype":"F32","shape":[8],"data_offsets":[0,32]},`+
				`"classifier.bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}}`, make([]byte, 32))
		}), func(dir string) []string {
			return []string{filepath.Join(dir, bert.SafetensorsFile), "overlap", `"classifier.bias" [24,32)`}
		}},
		{"header length beyond file", withFile(bert.SafetensorsFile, func(dir string) []byte {
			b := weights(dir)
			binary.LittleEndian.PutUint64(b, uint64(len(b)))
			return b
		}), func(dir string) []string {
			return []string{filepath.Join(dir, bert.SafetensorsFile), "header length", "past the end"}
		}},
		{"unknown model_type", withFile(bert.ConfigFile, func(string) []byte {
			return []byte(`{"model_type":"xlnet","hidden_size":8}`)
		}), func(dir string) []string {
			return []string{filepath.Join(dir, bert.ConfigFile), `model_type "xlnet" is not supported`}
		}},
		{"malformed config", withFile(bert.ConfigFile, func(string) []byte {
			return []byte(`{"model_type":"bert",,}`)
		}), func(dir string) []string {
			return []string{filepath.Join(dir, bert.ConfigFile), "malformed JSON"}
		}},
		{"missing config", func(t *testing.T) string {
			dir, _ := base.write(t)
			if err := os.Remove(filepath.Join(dir, bert.ConfigFile)); err != nil {
				t.Fatal(err)
			}
			return dir
		}, func(dir string) []string {
			return []string{filepath.Join(dir, bert.ConfigFile), "no such file"}
		}},
		{"missing weights", func(t *testing.T) string {
			dir, _ := base.write(t)
			if err := os.Remove(filepath.Join(dir, bert.SafetensorsFile)); err != nil {
				t.Fatal(err)
			}
			return dir
		}, func(dir string) []string {
			return []string{dir, "none of model.safetensors, model.safetensors.index.json or pytorch_model.bin exists"}
		}},
		{"nonexistent dir", func(t *testing.T) string {
			return filepath.Join(t.TempDir(), "no", "such", "model")
		}, func(dir string) []string {
			return []string{dir, "no such file"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t)
			m, err := bert.Load(dir, bert.LoadOptions{})
			if m != nil {
				t.Errorf("Load returned a model along with error %v", err)
			}
			wantErr(t, err, tt.fragments(dir)...)
		})
	}
}

func TestModelValidate(t *testing.T) {
	dir, _ := synth{"distilbert", "distilbert.", "F32", 2}.write(t)
	tests := []struct {
		name      string
		mutate    func(m *bert.Model)
		fragments []string // nil: the model stays valid
	}{
		{"untouched", func(*bert.Model) {}, nil},
		{"absent shards are fine", func(m *bert.Model) {
			m.Layers[0].Attention[1] = nil
			m.Layers[1].FFN[0] = nil
		}, nil},
		{"no config", func(m *bert.Model) { m.Config = nil }, []string{"no config"}},
		{"layer count", func(m *bert.Model) { m.Layers = m.Layers[:1] }, []string{"1 layers, config says 2"}},
		{"shard slots", func(m *bert.Model) { m.Layers[1].FFN = m.Layers[1].FFN[:1] }, []string{"layer 1", "2 attention and 1 FFN shard slots"}},
		{"output shard dims", func(m *bert.Model) {
			m.Layers[1].Attention[0].Output = &backend.Dense{N: 4, K: 8, Data: make([]float32, 32)}
		}, []string{"layer 1", "attention shard 0", "output matrix is 4×8", "want 8×4"}},
		{"dense data length", func(m *bert.Model) {
			q := m.Layers[0].Attention[1].Query.(*backend.Dense)
			q.Data = q.Data[:len(q.Data)-1]
		}, []string{"layer 0", "attention shard 1", "query matrix", "31 floats"}},
		{"nil matrix in a shard", func(m *bert.Model) { m.Layers[0].FFN[1].Down = nil }, []string{"FFN shard 1", "down matrix is missing"}},
		{"up bias", func(m *bert.Model) { m.Layers[0].FFN[0].UpBias = nil }, []string{"FFN shard 0", "up bias has 0 floats, want 6"}},
		{"resident", func(m *bert.Model) { m.Layers[1].Resident.FFNNormBias = nil }, []string{"layer 1", "output LayerNorm bias has 0 floats"}},
		{"position table", func(m *bert.Model) { m.Embeddings.Position = m.Embeddings.Position[:8] }, []string{"position table has 8 floats, want 48"}},
		{"token types on DistilBERT", func(m *bert.Model) { m.Embeddings.TokenType = make([]float32, 16) }, []string{"token type table has 16 floats, want 0"}},
		{"classifier", func(m *bert.Model) { m.Head.Classifier.N = 3 }, []string{"classifier matrix is 3×8"}},
		{"no word table", func(m *bert.Model) { m.Embeddings.Word = nil }, []string{"no word embeddings"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := bert.Load(dir, bert.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tt.mutate(m)
			err = m.Validate()
			if tt.fragments == nil {
				if err != nil {
					t.Errorf("Validate: %v", err)
				}
				return
			}
			wantErr(t, err, tt.fragments...)
		})
	}
}

// Shards of one layer put together again give back the dense projections.
func TestLoadShardsReassemble(t *testing.T) {
	dir, raw := synth{"bert", "bert.", "F32", 2}.write(t)
	m, err := bert.Load(dir, bert.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	H, d := synHidden, synHidden/synHeads
	o := make([]float32, H*H)
	for h, s := range m.Layers[1].Attention {
		od := s.Output.(*backend.Dense)
		for r := range H {
			copy(o[r*H+h*d:r*H+(h+1)*d], od.Data[r*d:(r+1)*d])
		}
	}
	if diff := cmp.Diff(raw["bert.encoder.layer.1.attention.output.dense.weight"].data, o); diff != "" {
		t.Errorf("reassembled output projection (-raw +got):\n%s", diff)
	}
}

func ExampleLoad() {
	m, err := bert.Load("path/to/hf-model-dir", bert.LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Config.ModelType, len(m.Layers), "layers of", m.Config.Heads, "shards")
}
