package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx/internal/shared"
)

// evalTSV writes a TSV whose gold labels are the reference predictions,
// except where flip is set, and returns its path and the number of rows
// whose gold label is the reference prediction.
func evalTSV(t *testing.T, header string, refs []reference, flip []bool, row func(r reference, label int) string) (path string, correct int) {
	t.Helper()
	var b strings.Builder
	b.WriteString(header + "\n")
	for i, r := range refs {
		label := argmax(r.Logits)
		if flip[i] {
			label = 1 - label
		} else {
			correct++
		}
		b.WriteString(row(r, label) + "\n")
	}
	path = filepath.Join(t.TempDir(), "dev.tsv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, correct
}

func sst2Row(r reference, label int) string { return fmt.Sprintf("%s\t%d", r.Text, label) }

func TestEvalSST2(t *testing.T) {
	dir := shared.Path(t, "models", "wrx-sst2-small")
	refs := readReferences(t, dir)[:4]
	flip := []bool{false, true, false, false}
	data, correct := evalTSV(t, "sentence\tlabel", refs, flip, sst2Row)
	acc := float64(correct) / float64(len(refs))

	t.Run("text", func(t *testing.T) {
		out, _, err := run(t, "", "eval", "--model", dir, "--task", "sst2", "--data", data)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"task\tsst2\n",
			fmt.Sprintf("n\t%d\n", len(refs)),
			fmt.Sprintf("accuracy\t%.6f (%d/%d)\n", acc, correct, len(refs)),
			"sentences/s\t",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("json", func(t *testing.T) {
		out, _, err := run(t, "", "eval", "--model", dir, "--task", "sst2", "--data", data, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			t.Fatalf("not one JSON object: %v\n%s", err, out)
		}
		got := map[string]any{"task": raw["task"], "n": raw["n"], "accuracy": raw["accuracy"]}
		want := map[string]any{"task": "sst2", "n": float64(len(refs)), "accuracy": acc}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("eval --json (-want +got):\n%s\n%s", d, out)
		}
		if _, ok := raw["f1"]; ok {
			t.Errorf("sst2 result has an f1: %s", out)
		}
	})
	t.Run("limit", func(t *testing.T) {
		out, _, err := run(t, "", "eval", "--model", dir, "--task", "sst2", "--data", data, "--json", "--limit", "1")
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			N        int
			Accuracy float64
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if got.N != 1 || got.Accuracy != 1 { // row 1 is not flipped
			t.Errorf("--limit 1: n %d accuracy %v, want 1 and 1", got.N, got.Accuracy)
		}
	})
}

// TestEvalMRPC checks a pair task, its BOM-prefixed header and its F1.
func TestEvalMRPC(t *testing.T) {
	dir := shared.Path(t, "fixtures", "tiny-distilbert")
	var refs []reference
	for _, r := range readReferences(t, dir) {
		if r.TextPair != nil && !strings.ContainsAny(r.Text+r.Pair(), "\t\n") {
			refs = append(refs, r)
		}
	}
	if len(refs) < 4 {
		t.Fatalf("only %d reference pairs", len(refs))
	}
	flip := make([]bool, len(refs))
	for i := range flip {
		flip[i] = i%3 == 1
	}
	data, _ := evalTSV(t, "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String", refs, flip,
		func(r reference, label int) string {
			return fmt.Sprintf("%d\t1\t2\t%s\t%s", label, r.Text, r.Pair())
		})
	// Accuracy and F1 of the positive class, computed here from the
	// reference predictions and the gold labels written above.
	var tp, fp, fn, right int
	for i, r := range refs {
		pred := argmax(r.Logits)
		gold := pred
		if flip[i] {
			gold = 1 - pred
		}
		switch {
		case pred == gold:
			right++
			if pred == 1 {
				tp++
			}
		case pred == 1:
			fp++
		default:
			fn++
		}
	}
	wantAcc := float64(right) / float64(len(refs))
	wantF1 := 2 * float64(tp) / float64(2*tp+fp+fn)

	out, _, err := run(t, "", "eval", "--model", dir, "--task", "mrpc", "--data", data, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range []string{"task", "n", "accuracy", "f1"} {
		if _, ok := got[k]; !ok {
			t.Errorf("eval --json lacks %q (has %q)", k, keys)
		}
	}
	if got["task"] != "mrpc" || got["n"] != float64(len(refs)) {
		t.Errorf("task %v n %v, want mrpc %d", got["task"], got["n"], len(refs))
	}
	if a, _ := got["accuracy"].(float64); math.Abs(a-wantAcc) > 1e-12 {
		t.Errorf("accuracy %v, want %v", got["accuracy"], wantAcc)
	}
	if f, _ := got["f1"].(float64); math.Abs(f-wantF1) > 1e-12 {
		t.Errorf("f1 %v, want %v", got["f1"], wantF1)
	}
}
