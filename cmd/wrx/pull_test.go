package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/wrxlabs/wrx/hub"
	"github.com/wrxlabs/wrx/internal/hubtest"
	"github.com/wrxlabs/wrx/internal/shared"
)

// fakeHub serves the testdata checkpoints from a fake hub, points the
// HF_ environment at it with an empty cache, and returns it.
func fakeHub(t *testing.T) *hubtest.Server {
	t.Helper()
	srv := hubtest.New(t)
	for _, name := range []string{"bert-bin", "distil-multilabel", "bert-regression"} {
		srv.Add("wrx-test/"+name, hubtest.ReadDir(t, hubtest.Testdata(name)))
	}
	t.Setenv("HF_ENDPOINT", srv.URL())
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_TOKEN_PATH", "")
	t.Setenv("HF_HUB_OFFLINE", "")
	return srv
}

// TestPullThenClassify is the flow from a model id to a classification:
// wrx pull, then classify --model ORG/NAME, which gives what --model DIR
// gives for the same checkpoint; then the same offline from the cache.
func TestPullThenClassify(t *testing.T) {
	srv := fakeHub(t)
	out, _, err := run(t, "", "pull", "wrx-test/bert-bin")
	if err != nil {
		t.Fatal(err)
	}
	snap := strings.TrimSpace(out)
	want := filepath.Join(os.Getenv("HF_HOME"), "hub", "models--wrx-test--bert-bin", "snapshots")
	if filepath.Dir(snap) != want {
		t.Errorf("pull printed %q, want a snapshot under %s", snap, want)
	}
	local := hubtest.Testdata("bert-bin")
	refs := readReferences(t, local)[:5]
	args := func(model string) []string {
		a := []string{"classify", "--model", model, "--fidelity", "32", "--quiet", "--json"}
		for _, r := range refs {
			a = append(a, r.Text)
		}
		return a
	}
	fromLocal, _, err := run(t, "", args(local)...)
	if err != nil {
		t.Fatal(err)
	}
	n := len(srv.Requests())
	fromHub, _, err := run(t, "", args("wrx-test/bert-bin")...)
	if err != nil {
		t.Fatal(err)
	}
	// The measured memory of two runs in one test process differs.
	measured := regexp.MustCompile(`,"model_rss_bytes":[0-9]+`)
	fromHub, fromLocal = measured.ReplaceAllString(fromHub, ""), measured.ReplaceAllString(fromLocal, "")
	if fromHub != fromLocal {
		t.Errorf("classify --model wrx-test/bert-bin:\n%s\n--model %s:\n%s", fromHub, local, fromLocal)
	}
	if got := len(srv.Requests()); got != n {
		t.Errorf("classify of a pulled model sent %d requests, want none", got-n)
	}
	// The labels are PyTorch's argmax, named by id2label.
	labels := []string{"contradiction", "entailment", "neutral"}
	sc := bufio.NewScanner(strings.NewReader(fromHub))
	for i := 0; sc.Scan(); i++ {
		var p predictionJSON
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if want := labels[argmax(refs[i].Logits)]; p.Label != want || p.Problem != "single_label_classification" {
			t.Errorf("line %d: %s (%s), want %s", i+1, p.Label, p.Problem, want)
		}
	}

	t.Setenv("HF_HUB_OFFLINE", "1")
	if out, _, err := run(t, "", "classify", "--model", "wrx-test/bert-bin", "--fidelity", "32", "--quiet", refs[0].Text); err != nil || !strings.HasPrefix(out, labels[argmax(refs[0].Logits)]+"\t") {
		t.Errorf("offline from the cache: %q, %v", out, err)
	}
	out, _, err = run(t, "", "tokenize", "--model", "wrx-test/bert-bin", refs[0].Text)
	var enc struct {
		InputIDs []int `json:"input_ids"`
	}
	if err != nil || json.Unmarshal([]byte(out), &enc) != nil || fmt.Sprint(enc.InputIDs) != fmt.Sprint(refs[0].InputIDs) {
		t.Errorf("tokenize --model wrx-test/bert-bin offline: %q, %v; want ids %v", out, err, refs[0].InputIDs)
	}
	_, _, err = run(t, "", "classify", "--model", "wrx-test/distil-multilabel", "--quiet", "text")
	if !errors.Is(err, hub.ErrNotCached) || !strings.Contains(hint(err), "wrx pull") {
		t.Errorf("offline, not cached: %v (hint %q)", err, hint(err))
	}
	if len(srv.Requests()) != n {
		t.Errorf("offline commands sent %d requests", len(srv.Requests())-n)
	}
}

// TestPullInterruptedDamagedGated interrupts a pull mid-file and resumes
// it, refuses a damaged file, and needs HF_TOKEN for a gated model.
func TestPullInterruptedDamagedGated(t *testing.T) {
	srv := fakeHub(t)
	bin, err := os.ReadFile(filepath.Join(hubtest.Testdata("bert-bin"), "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	srv.DropAfter(bin, 300_000, 1)
	_, _, err = run(t, "", "pull", "--quiet", "wrx-test/bert-bin")
	if !errors.Is(err, hub.ErrNetwork) || !strings.Contains(err.Error(), "interrupted at byte 300000") || !strings.Contains(hint(err), "resumes") {
		t.Fatalf("interrupted pull: %v (hint %q)", err, hint(err))
	}
	if _, _, err := run(t, "", "pull", "--quiet", "wrx-test/bert-bin"); err != nil {
		t.Fatalf("resumed pull: %v", err)
	}
	var ranges []string
	for _, r := range srv.Requests() {
		if r.Server == "cdn" {
			ranges = append(ranges, r.Range)
		}
	}
	if fmt.Sprint(ranges) != "[ bytes=300000-]" {
		t.Errorf("file host ranges %q, want a full request then bytes=300000-", ranges)
	}

	multi, err := os.ReadFile(filepath.Join(hubtest.Testdata("distil-multilabel"), "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Corrupt(multi, true)
	_, _, err = run(t, "", "classify", "--model", "wrx-test/distil-multilabel", "--quiet", "text")
	if !errors.Is(err, hub.ErrChecksum) || !strings.Contains(err.Error(), "sha256") || !strings.Contains(hint(err), "removed") {
		t.Errorf("damaged file: %v (hint %q)", err, hint(err))
	}
	srv.Corrupt(multi, false)

	srv.RequireToken("wrx-test/bert-regression", "hf_reader")
	_, _, err = run(t, "", "pull", "--quiet", "wrx-test/bert-regression")
	if !errors.Is(err, hub.ErrUnauthorized) || !strings.Contains(hint(err), "HF_TOKEN") {
		t.Errorf("gated without a token: %v (hint %q)", err, hint(err))
	}
	t.Setenv("HF_TOKEN", "hf_reader")
	if _, _, err := run(t, "", "pull", "--quiet", "wrx-test/bert-regression"); err != nil {
		t.Errorf("gated with HF_TOKEN: %v", err)
	}
	if _, _, err := run(t, "", "pull", "wrx-test/no-such-model"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("unknown model: %v", err)
	}
}

// TestPullTwoProcesses runs two wrx pull processes of one model on one
// cache at once: both succeed, and the weights are fetched once.
func TestPullTwoProcesses(t *testing.T) {
	srv := fakeHub(t)
	var wg sync.WaitGroup
	outs := make([][]byte, 2)
	errs := make([]error, 2)
	for i := range outs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "pull", "--quiet", "wrx-test/bert-bin")
			cmd.Env = append(os.Environ(), "WRX_TEST_AS_WRX=1")
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for i := range outs {
		if errs[i] != nil {
			t.Fatalf("process %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	if string(outs[0]) != string(outs[1]) {
		t.Errorf("the two pulls printed %q and %q", outs[0], outs[1])
	}
	cdn := 0
	for _, r := range srv.Requests() {
		if r.Server == "cdn" {
			cdn++
		}
	}
	if cdn != 1 {
		t.Errorf("the weights were fetched %d times, want once", cdn)
	}
}

// TestClassifyHeads prints a multi-label model's labels above --threshold
// and a single-logit model's score, checked against PyTorch.
func TestClassifyHeads(t *testing.T) {
	fakeHub(t)
	t.Run("multi-label", func(t *testing.T) {
		dir := hubtest.Testdata("distil-multilabel")
		var refs []struct {
			Text  string    `json:"text"`
			Pair  *string   `json:"text_pair"`
			Probs []float64 `json:"probs"`
		}
		f, err := os.ReadFile(filepath.Join(dir, "reference.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(f)), "\n") {
			var one struct {
				Text  string    `json:"text"`
				Pair  *string   `json:"text_pair"`
				Probs []float64 `json:"probs"`
			}
			if err := json.Unmarshal([]byte(line), &one); err != nil {
				t.Fatal(err)
			}
			if one.Pair == nil {
				refs = append(refs, one)
			}
		}
		refs = refs[:6]
		labels := []string{"alpha", "beta", "gamma", "delta"}
		for _, threshold := range []float64{0.5, 0.9} {
			args := []string{"classify", "--model", "wrx-test/distil-multilabel", "--fidelity", "32", "--quiet", "--threshold", fmt.Sprint(threshold)}
			for _, r := range refs {
				args = append(args, r.Text)
			}
			out, _, err := run(t, "", args...)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != len(refs) {
				t.Fatalf("%d lines for %d texts:\n%s", len(lines), len(refs), out)
			}
			for i, r := range refs {
				type ls struct {
					l string
					p float64
				}
				var above []ls
				for j, p := range r.Probs {
					if p > threshold {
						above = append(above, ls{labels[j], p})
					}
				}
				sort.Slice(above, func(a, b int) bool { return above[a].p > above[b].p })
				wantLabels, wantScores := "-", "-"
				if len(above) > 0 {
					var l, s []string
					for _, a := range above {
						l = append(l, a.l)
						s = append(s, fmt.Sprintf("%.4f", a.p))
					}
					wantLabels, wantScores = strings.Join(l, ","), strings.Join(s, ",")
				}
				cols := strings.Split(lines[i], "\t")
				if len(cols) != 3 || cols[0] != wantLabels || !closeList(cols[1], wantScores) {
					t.Errorf("threshold %v, %q: got %q, want %s\t%s (PyTorch sigmoid)", threshold, r.Text, lines[i], wantLabels, wantScores)
				}
			}
		}
	})
	t.Run("single logit", func(t *testing.T) {
		dir := hubtest.Testdata("bert-regression")
		refs := readReferences(t, dir)[:6]
		args := []string{"classify", "--model", "wrx-test/bert-regression", "--fidelity", "32", "--quiet"}
		for _, r := range refs {
			args = append(args, r.Text)
		}
		out, _, err := run(t, "", args...)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			cols := strings.Split(line, "\t")
			if len(cols) != 3 || cols[0] != "LABEL_0" || !closeList(cols[1], fmt.Sprintf("%.4f", refs[i].Logits[0])) {
				t.Errorf("%q: got %q, want LABEL_0\t%.4f (PyTorch's output)", refs[i].Text, line, refs[i].Logits[0])
			}
		}
		// eval picks the metric by the head: correlation on a regression
		// task, and a clear refusal of a classification task.
		var tsv strings.Builder
		tsv.WriteString("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n")
		for i, r := range readReferences(t, dir) {
			if r.TextPair != nil {
				fmt.Fprintf(&tsv, "%d\tg\tf\t2020\t0\ts\ts\t%s\t%s\t%.6f\n", i, r.Text, *r.TextPair, 2.5+r.Logits[0])
			}
		}
		data := filepath.Join(t.TempDir(), "dev.tsv")
		if err := os.WriteFile(data, []byte(tsv.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _, err = run(t, "", "eval", "--model", "wrx-test/bert-regression", "--fidelity", "32", "--quiet", "--task", "stsb", "--data", data, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var res evalResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		if res.Problem != "regression" || res.Pearson == nil || *res.Pearson < 0.99999 || res.Accuracy != nil {
			t.Errorf("eval stsb of a regression head: %s; want Pearson 1 against PyTorch's outputs, no accuracy", out)
		}
		sst2 := filepath.Join(t.TempDir(), "sst2.tsv")
		if err := os.WriteFile(sst2, []byte("sentence\tlabel\n"+refs[0].Text+"\t1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err = run(t, "", "eval", "--model", "wrx-test/bert-regression", "--quiet", "--task", "sst2", "--data", sst2)
		if err == nil || !strings.Contains(err.Error(), "scored on stsb only") {
			t.Errorf("eval sst2 of a regression head: %v", err)
		}
	})
}

// closeList compares comma-separated 4-decimal numbers to within one unit
// of the last decimal.
func closeList(got, want string) bool {
	g, w := strings.Split(got, ","), strings.Split(want, ",")
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		var a, b float64
		if _, err := fmt.Sscan(g[i], &a); err != nil {
			return g[i] == w[i]
		}
		if _, err := fmt.Sscan(w[i], &b); err != nil || math.Abs(a-b) > 1.5e-4 {
			return false
		}
	}
	return true
}

// TestEvalLabelsByName scores a model whose id2label lists the SST-2
// labels in the other order: eval maps its classes by name.
func TestEvalLabelsByName(t *testing.T) {
	src := shared.Path(t, "fixtures", "tiny-distilbert")
	dir := t.TempDir()
	for _, f := range []string{"model.safetensors", "vocab.txt", "tokenizer_config.json", "config.json"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "config.json" {
			var cfg map[string]any
			if err := json.Unmarshal(data, &cfg); err != nil {
				t.Fatal(err)
			}
			cfg["id2label"] = map[string]string{"0": "Positive", "1": "Negative"}
			delete(cfg, "label2id")
			data, _ = json.Marshal(cfg)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var tsv strings.Builder
	tsv.WriteString("sentence\tlabel\n")
	refs := readReferences(t, src)
	n := 0
	for _, r := range refs {
		if r.TextPair == nil && n < 8 {
			// The model's class c is named (1-c)'s SST-2 label.
			fmt.Fprintf(&tsv, "%s\t%d\n", r.Text, 1-argmax(r.Logits))
			n++
		}
	}
	data := filepath.Join(t.TempDir(), "dev.tsv")
	if err := os.WriteFile(data, []byte(tsv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "", "eval", "--model", dir, "--fidelity", "32", "--quiet", "--task", "sst2", "--data", data, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res evalResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.LabelsBy != "name" || res.Accuracy == nil || *res.Accuracy != 1 || res.N != n {
		t.Errorf("eval: %s; want labels by name, accuracy 1 on %d rows", out, n)
	}
}
