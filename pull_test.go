package wrx_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/hub"
	"github.com/wrxlabs/wrx/internal/hubtest"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
)

// headReference is a reference.jsonl line with the sigmoid probabilities
// PyTorch computed for a multi-label model.
type headReference struct {
	shared.Reference
	Probs []float64 `json:"probs"`
}

func readHeadReferences(t *testing.T, dir string) []headReference {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "reference.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var refs []headReference
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var r headReference
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	return refs
}

// TestPullLayouts serves the shared SST-2 model and the testdata
// checkpoints from a fake hub in every layout WRX reads, pulls each, and
// checks that the snapshot classifies with the logits of the local
// directory it came from, bit for bit, and within 1e-4 of PyTorch's.
func TestPullLayouts(t *testing.T) {
	sst2 := shared.Path(t, "models", "wrx-sst2-small")
	srv := hubtest.New(t)
	sst2Files := hubtest.ReadDir(t, sst2)
	layouts := []struct {
		id, local string
		files     map[string][]byte
		want      []string // the files pulled
		refs      int      // reference lines to check (0: all)
	}{
		{"wrx-test/sst2", sst2, sst2Files,
			[]string{"config.json", "model.safetensors", "tokenizer_config.json", "vocab.txt"}, 6},
		{"wrx-test/sst2-sharded", sst2, hubtest.Sharded(t, sst2Files, 3),
			[]string{"config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors",
				"model.safetensors.index.json", "tokenizer_config.json", "vocab.txt"}, 6},
		{"wrx-test/sst2-tokenizer-json", sst2, hubtest.TokenizerJSONOnly(t, sst2Files, hubtest.Testdata("tokenizer", "tokenizer.json")),
			[]string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}, 6},
		{"wrx-test/bert-bin", hubtest.Testdata("bert-bin"), hubtest.ReadDir(t, hubtest.Testdata("bert-bin")),
			[]string{"config.json", "pytorch_model.bin", "tokenizer_config.json", "vocab.txt"}, 0},
		{"wrx-test/distil-multilabel", hubtest.Testdata("distil-multilabel"), hubtest.ReadDir(t, hubtest.Testdata("distil-multilabel")),
			[]string{"config.json", "pytorch_model.bin", "tokenizer.json"}, 0},
		{"wrx-test/bert-regression", hubtest.Testdata("bert-regression"), hubtest.ReadDir(t, hubtest.Testdata("bert-regression")),
			[]string{"config.json", "model.safetensors", "tokenizer.json"}, 0},
	}
	for _, l := range layouts {
		srv.Add(l.id, l.files)
	}
	cache := t.TempDir()
	ctx := context.Background()
	for _, l := range layouts {
		t.Run(filepath.Base(l.id), func(t *testing.T) {
			dir, err := wrx.Pull(ctx, l.id, hub.Options{Endpoint: srv.URL(), CacheDir: cache})
			if err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			sort.Strings(got)
			if d := cmp.Diff(l.want, got); d != "" {
				t.Errorf("pulled files (-want +got):\n%s", d)
			}
			pulled, err := wrx.Open(ctx, dir, wrx.Options{})
			if err != nil {
				t.Fatal(err)
			}
			local, err := wrx.Open(ctx, l.local, wrx.Options{})
			if err != nil {
				t.Fatal(err)
			}
			refs := shared.References(t, l.local)
			if l.refs > 0 {
				refs = refs[:l.refs]
			}
			worst := 0.0
			for i, r := range refs {
				a, err := pulled.ClassifyPair(ctx, r.Text, r.Pair())
				if err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				b, err := local.ClassifyPair(ctx, r.Text, r.Pair())
				if err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				if !cmp.Equal(a.Logits, b.Logits) {
					t.Errorf("line %d: pulled logits %v, local %v", i+1, a.Logits, b.Logits)
				}
				for j := range r.Logits {
					worst = math.Max(worst, math.Abs(float64(a.Logits[j])-r.Logits[j]))
				}
			}
			t.Logf("%d inputs: the local directory's logits; max |logit - PyTorch| = %.2e", len(refs), worst)
			if worst > 1e-4 {
				t.Errorf("max |logit - PyTorch| = %.2e, want <= 1e-4", worst)
			}
		})
	}
}

// TestPredictionHeads checks the multi-label head (a sigmoid per label,
// the labels above a threshold) and the single-logit head (the raw value)
// against PyTorch.
func TestPredictionHeads(t *testing.T) {
	ctx := context.Background()
	t.Run("multi-label", func(t *testing.T) {
		dir := hubtest.Testdata("distil-multilabel")
		c, err := wrx.Open(ctx, dir, wrx.Options{})
		if err != nil {
			t.Fatal(err)
		}
		labels := c.Labels()
		worst, applied := 0.0, 0
		for i, r := range readHeadReferences(t, dir) {
			p, err := c.ClassifyPair(ctx, r.Text, r.Pair())
			if err != nil {
				t.Fatal(err)
			}
			if p.Problem != bert.MultiLabel {
				t.Fatalf("Problem %q, want %q", p.Problem, bert.MultiLabel)
			}
			var want []string
			best := 0
			for j, prob := range r.Probs {
				worst = math.Max(worst, math.Abs(float64(p.Scores[labels[j]])-prob))
				if prob > 0.5 {
					want = append(want, labels[j])
				}
				if prob > r.Probs[best] {
					best = j
				}
			}
			applied += len(want)
			got := p.Above(0.5)
			sort.Strings(got)
			sort.Strings(want)
			if !cmp.Equal(want, got) {
				t.Errorf("line %d: labels above 0.5 %v, PyTorch's %v", i+1, got, want)
			}
			if p.Label != labels[best] {
				t.Errorf("line %d: label %s, want %s", i+1, p.Label, labels[best])
			}
		}
		t.Logf("max |sigmoid - PyTorch| = %.2e; %d labels applied over the inputs", worst, applied)
		if worst > 1e-4 {
			t.Errorf("max |sigmoid - PyTorch| = %.2e, want <= 1e-4", worst)
		}
	})
	t.Run("single logit", func(t *testing.T) {
		dir := hubtest.Testdata("bert-regression")
		c, err := wrx.Open(ctx, dir, wrx.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range shared.References(t, dir) {
			p, err := c.ClassifyPair(ctx, r.Text, r.Pair())
			if err != nil {
				t.Fatal(err)
			}
			if p.Problem != bert.Regression || p.Label != "LABEL_0" || p.Scores["LABEL_0"] != p.Score {
				t.Fatalf("line %d: %+v, want a regression prediction labelled LABEL_0", i+1, p)
			}
			if d := math.Abs(float64(p.Score) - r.Logits[0]); d > 1e-4 {
				t.Errorf("line %d: score %v, PyTorch %v", i+1, p.Score, r.Logits[0])
			}
		}
	})
}

// TestModelDir resolves a directory as itself, and a hub id from the
// cache without the network once pulled.
func TestModelDir(t *testing.T) {
	ctx := context.Background()
	srv := hubtest.New(t)
	srv.Add("wrx-test/bert-bin", hubtest.ReadDir(t, hubtest.Testdata("bert-bin")))
	opts := hub.Options{Endpoint: srv.URL(), CacheDir: t.TempDir()}
	local := hubtest.Testdata("bert-bin")
	if dir, err := wrx.ModelDir(ctx, local, opts); err != nil || dir != local {
		t.Errorf("ModelDir(%s) = %s, %v", local, dir, err)
	}
	offline := opts
	offline.Offline = true
	if _, err := wrx.ModelDir(ctx, "wrx-test/bert-bin", offline); !errors.Is(err, hub.ErrNotCached) {
		t.Errorf("offline before a pull: %v, want ErrNotCached", err)
	}
	dir, err := wrx.ModelDir(ctx, "wrx-test/bert-bin", opts)
	if err != nil {
		t.Fatal(err)
	}
	n := len(srv.Requests())
	again, err := wrx.ModelDir(ctx, "wrx-test/bert-bin@main", offline)
	if err != nil || again != dir {
		t.Errorf("offline after a pull: %s, %v; want %s", again, err, dir)
	}
	if again, err = wrx.ModelDir(ctx, "wrx-test/bert-bin", opts); err != nil || again != dir || len(srv.Requests()) != n {
		t.Errorf("cached: %s, %v, %d requests; want %s and none", again, err, len(srv.Requests())-n, dir)
	}
	if _, err := wrx.ModelDir(ctx, "./no/such/dir", opts); err == nil {
		t.Error("ModelDir of a missing path: no error")
	}
	if _, err := wrx.ModelDir(ctx, "wrx-test/nope", opts); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("unknown model: %v, want ErrNotFound", err)
	}
}

func ExamplePull() {
	ctx := context.Background()
	// HF_ENDPOINT, HF_TOKEN, HF_HOME and HF_HUB_OFFLINE apply.
	dir, err := wrx.Pull(ctx, "distilbert/distilbert-base-uncased-finetuned-sst-2-english", hub.Options{})
	if err != nil {
		return
	}
	c, err := wrx.Open(ctx, dir, wrx.Options{})
	if err != nil {
		return
	}
	p, _ := c.Classify(ctx, "a charming and often affecting journey")
	_ = p.Label
}
