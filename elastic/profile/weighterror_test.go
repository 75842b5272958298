package profile_test

import (
	"context"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/model/synth"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// tinySynthConfig is a two-layer architecture small enough to draw and
// convert in a test.
func tinySynthConfig() *bert.Config {
	return &bert.Config{
		ModelType: bert.TypeBERT, VocabSize: 200, Hidden: 64, Layers: 2, Heads: 4, Intermediate: 128,
		MaxPosition: 64, TypeVocab: 2, LayerNormEps: 1e-12, Activation: "gelu", Labels: []string{"a", "b", "c"},
	}
}

// TestWeightErrorsOfASyntheticStore converts a tiny synthetic model into an in-memory store,
// runs it from the store, and measures its shard versions' weight errors.
func TestWeightErrorsOfASyntheticStore(t *testing.T) {
	ctx := context.Background()
	c := tinySynthConfig()
	m, err := synth.Model(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	vocab, err := synth.Vocab(c.VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := bert.NewTokenizer(vocab, bert.TokenizerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uri := "mem:synth-convert-and-run"
	if err := shardstore.Convert(ctx, uri, m, tok, shardstore.ConvertOptions{Synthetic: true, Source: "synth test"}); err != nil {
		t.Fatal(err)
	}
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Manifest().Synthetic {
		t.Error("manifest does not mark the store synthetic")
	}
	sm, err := s.Uniform(ctx, 32)
	if err != nil {
		t.Fatal(err)
	}
	be, err := backend.Get("native")
	if err != nil {
		t.Fatal(err)
	}
	logits, err := sm.Forward(ctx, be, []int{2, 1, 7, 150, 3}, []int{0, 0, 0, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(logits) != 3 {
		t.Fatalf("%d logits, want 3", len(logits))
	}
	for _, v := range logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("logits %v are not finite", logits)
		}
	}

	bits, errs, err := profile.WeightErrors(ctx, s, m, profile.ErrorOptions{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(quant.AllFidelities(), bits); diff != "" {
		t.Fatalf("bits (-want +got):\n%s", diff)
	}
	// Lloyd–Max distortion of a unit Gaussian (Max 1960): 0.1175 at 2 bits,
	// 0.03454 at 3, 0.009497 at 4. The quantizer keeps the tail beyond 3.5σ
	// exactly, so it may do somewhat better, never much worse. fp16 keeps
	// 11 significant bits: a relative error² of about 1e-7.
	t.Logf("layer 0 head 0 error² by bits %v: %.3g", bits, errs[0][0])
	lloydMax := map[quant.Fidelity]float64{2: 0.1175, 3: 0.03454, 4: 0.009497}
	for l := range c.Layers {
		for h := range c.Heads {
			e := errs[l][h]
			for i, b := range bits {
				if i > 0 && !(e[i] < e[i-1]) && e[i-1] > 0 {
					t.Errorf("layer %d head %d: error² %g at %d bits is not below %g at %d bits", l, h, e[i], b, e[i-1], bits[i-1])
				}
				if ref, ok := lloydMax[b]; ok && (e[i] > 1.1*ref || e[i] < 0.5*ref) {
					t.Errorf("layer %d head %d: error² %.4f at %d bits, Lloyd–Max gives %.4f", l, h, e[i], b, ref)
				}
			}
			if e[len(e)-1] != 0 || e[len(e)-2] > 1e-6 {
				t.Errorf("layer %d head %d: error² %g at 16 bits and %g at 32, want ≈ 0 and 0", l, h, e[len(e)-2], e[len(e)-1])
			}
		}
	}

	other := tinySynthConfig()
	other.Layers = 3
	om, err := synth.Model(other, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := profile.WeightErrors(ctx, s, om, profile.ErrorOptions{}); err == nil {
		t.Error("a 3-layer model against a 2-layer store: no error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := profile.WeightErrors(cctx, s, m, profile.ErrorOptions{}); err == nil {
		t.Error("cancelled context: no error")
	}
	imp, err := profile.WeightErrorImportance(ctx, s, m, profile.ErrorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := imp.Validate(); err != nil {
		t.Errorf("weight-error importance is not a valid profile: %v", err)
	}
	if imp.Metric != profile.WeightErrorMetric || imp.Shards[1][2].Dropped != 1 || !cmp.Equal(imp.Shards[1][2].Loss, errs[1][2]) {
		t.Errorf("weight-error importance of layer 1 head 2 = %+v (metric %q), want losses %v and 1 dropped", imp.Shards[1][2], imp.Metric, errs[1][2])
	}
}
