package main

import (
	"encoding/json"
	"math"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx/internal/shared"
)

// The text output rounds scores to 4 decimals.
const textTol = 1e-4 + 5e-5

func TestClassifyText(t *testing.T) {
	dir := shared.Path(t, "models", "wrx-sst2-small")
	refs := readReferences(t, dir)[:4]
	labels := readLabels(t, dir)
	args := []string{"classify", "--model", dir}
	for _, r := range refs {
		args = append(args, r.Text)
	}
	out, _, err := run(t, "", args...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(refs) {
		t.Fatalf("%d output lines for %d texts:\n%s", len(lines), len(refs), out)
	}
	for i, line := range lines {
		checkTextLine(t, line, refs[i], labels, refs[i].Text)
	}
}

// checkTextLine checks one "LABEL<TAB>SCORE<TAB>TEXT" line against the
// reference logits.
func checkTextLine(t *testing.T, line string, r reference, labels []string, wantText string) {
	t.Helper()
	f := strings.SplitN(line, "\t", 3)
	if len(f) != 3 {
		t.Fatalf("line %q: want LABEL<TAB>SCORE<TAB>TEXT", line)
	}
	k := argmax(r.Logits)
	if f[0] != labels[k] {
		t.Errorf("%q: label %q, reference %q", r.Text, f[0], labels[k])
	}
	score, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		t.Fatalf("line %q: score: %v", line, err)
	}
	if want := softmax64(r.Logits)[k]; math.Abs(score-want) > textTol {
		t.Errorf("%q: score %v, softmax(reference) %v", r.Text, score, want)
	}
	if f[2] != wantText {
		t.Errorf("text column %q, want %q", f[2], wantText)
	}
}

// TestClassifyJSON checks the shape of --json output and its values, for
// single texts and pairs.
func TestClassifyJSON(t *testing.T) {
	dir := shared.Path(t, "fixtures", "tiny-bert")
	labels := readLabels(t, dir)
	var singles, pairs []reference
	for _, r := range readReferences(t, dir) {
		if r.TextPair == nil {
			singles = append(singles, r)
		} else {
			pairs = append(pairs, r)
		}
	}
	if len(singles) < 3 || len(pairs) < 3 {
		t.Fatalf("reference has %d single texts and %d pairs, want at least 3 of each", len(singles), len(pairs))
	}
	singles, pairs = singles[:3], pairs[len(pairs)-3:] // the last pair is truncated

	for _, tc := range []struct {
		name     string
		refs     []reference
		pairs    bool
		wantKeys []string
	}{
		{"single", singles, false, []string{"label", "logits", "problem", "score", "scores", "text"}},
		{"pairs", pairs, true, []string{"label", "logits", "pair", "problem", "score", "scores", "text"}},
	} {
		if runtime.GOOS == "linux" { // resident sets are measured there
			tc.wantKeys = append(tc.wantKeys, "model_rss_bytes")
			sort.Strings(tc.wantKeys)
		}
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"classify", "--model", dir, "--json"}
			if tc.pairs {
				args = append(args, "--pairs")
			}
			for _, r := range tc.refs {
				args = append(args, r.Text)
				if tc.pairs {
					args = append(args, r.Pair())
				}
			}
			out, _, err := run(t, "", args...)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != len(tc.refs) {
				t.Fatalf("%d JSON lines for %d inputs:\n%s", len(lines), len(tc.refs), out)
			}
			for i, line := range lines {
				var raw map[string]json.RawMessage
				if err := json.Unmarshal([]byte(line), &raw); err != nil {
					t.Fatalf("line %d is not a JSON object: %v\n%s", i+1, err, line)
				}
				var keys []string
				for k := range raw {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				if d := cmp.Diff(tc.wantKeys, keys); d != "" {
					t.Errorf("line %d keys (-want +got):\n%s", i+1, d)
				}
				checkJSONLine(t, line, tc.refs[i], labels)
			}
		})
	}
}

func checkJSONLine(t *testing.T, line string, r reference, labels []string) {
	t.Helper()
	var got struct {
		Text, Pair, Label string
		Score             float64
		Scores            map[string]float64
		Logits            []float64
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatal(err)
	}
	want := softmax64(r.Logits)
	k := argmax(r.Logits)
	if got.Text != r.Text || got.Pair != r.Pair() {
		t.Errorf("echoed (%q, %q), want (%q, %q)", got.Text, got.Pair, r.Text, r.Pair())
	}
	if got.Label != labels[k] {
		t.Errorf("%q: label %q, reference %q", r.Text, got.Label, labels[k])
	}
	if math.Abs(got.Score-want[k]) > 1e-4 {
		t.Errorf("%q: score %v, softmax(reference) %v", r.Text, got.Score, want[k])
	}
	if len(got.Scores) != len(labels) {
		t.Errorf("scores %v, want one per label %q", got.Scores, labels)
	}
	for i, l := range labels {
		if s, ok := got.Scores[l]; !ok || math.Abs(s-want[i]) > 1e-4 {
			t.Errorf("%q: scores[%s] = %v (present %v), softmax(reference) %v", r.Text, l, s, ok, want[i])
		}
	}
	if len(got.Logits) != len(r.Logits) {
		t.Fatalf("%q: logits %v, reference %v", r.Text, got.Logits, r.Logits)
	}
	for i := range r.Logits {
		if math.Abs(got.Logits[i]-r.Logits[i]) > 1e-4 {
			t.Errorf("%q: logits %v, reference %v", r.Text, got.Logits, r.Logits)
			break
		}
	}
}

// TestClassifyStdin checks that texts come from standard input, one per
// line (tab-separated pairs with --pairs), when no TEXT is given.
func TestClassifyStdin(t *testing.T) {
	dir := shared.Path(t, "fixtures", "tiny-bert")
	labels := readLabels(t, dir)
	var singles, pairs []reference
	for _, r := range readReferences(t, dir) {
		if r.TextPair == nil {
			singles = append(singles, r)
		} else if !strings.ContainsAny(r.Text+r.Pair(), "\t\n") {
			pairs = append(pairs, r)
		}
	}
	singles, pairs = singles[:3], pairs[:3]

	t.Run("single", func(t *testing.T) {
		var in strings.Builder
		for _, r := range singles {
			in.WriteString(r.Text + "\n")
		}
		out, _, err := run(t, in.String(), "classify", "--model", dir)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != len(singles) {
			t.Fatalf("%d output lines for %d stdin lines:\n%s", len(lines), len(singles), out)
		}
		for i, line := range lines {
			checkTextLine(t, line, singles[i], labels, singles[i].Text)
		}
	})
	t.Run("pairs", func(t *testing.T) {
		var in strings.Builder
		for _, r := range pairs {
			in.WriteString(r.Text + "\t" + r.Pair() + "\n")
		}
		out, _, err := run(t, in.String(), "classify", "--model", dir, "--pairs", "--json")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != len(pairs) {
			t.Fatalf("%d output lines for %d stdin lines:\n%s", len(lines), len(pairs), out)
		}
		for i, line := range lines {
			checkJSONLine(t, line, pairs[i], labels)
		}
	})
}

// TestClassifyBackends checks that --backend gorgonia gives the reference
// labels too.
func TestClassifyBackends(t *testing.T) {
	dir := shared.Path(t, "fixtures", "tiny-distilbert")
	labels := readLabels(t, dir)
	r := readReferences(t, dir)[0]
	for _, be := range []string{"native", "gorgonia"} {
		t.Run(be, func(t *testing.T) {
			out, _, err := run(t, "", "classify", "--model", dir, "--backend", be, "--json", r.Text)
			if err != nil {
				t.Fatal(err)
			}
			checkJSONLine(t, strings.TrimSuffix(out, "\n"), r, labels)
		})
	}
}
