package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/internal/storetest"
)

// run runs the CLI in-process with stdin as standard input and returns what
// it wrote to standard output and standard error.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter, app.Reader = &out, &errOut, strings.NewReader(stdin)
	// urfave/cli calls os.Exit for errors that carry an exit code; a test
	// must see them as errors instead.
	app.ExitErrHandler = func(*cli.Context, error) {}
	err = app.RunContext(context.Background(), append([]string{"wrx"}, args...))
	return out.String(), errOut.String(), err
}

// reference is one line of a model's reference.jsonl (PyTorch logits).
type reference = shared.Reference

func readReferences(t *testing.T, dir string) []reference { return shared.References(t, dir) }

// softmax64 and argmax are independent of the code under test: expected
// labels and scores come from the PyTorch logits.
func softmax64(x []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	out := make([]float64, len(x))
	var sum float64
	for i, v := range x {
		out[i] = math.Exp(v - m)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// readLabels reads id2label from config.json.
func readLabels(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ID2Label map[int]string `json:"id2label"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	labels := make([]string, len(cfg.ID2Label))
	for i := range labels {
		labels[i] = cfg.ID2Label[i]
	}
	return labels
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{
		{"--help"},
		{"classify", "--help"},
		{"eval", "--help"},
		{"tokenize", "--help"},
		{"help", "classify"},
		{"classify", "-h"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, _, err := run(t, "", args...)
			if err != nil {
				t.Fatalf("wrx %s: %v", strings.Join(args, " "), err)
			}
			for _, want := range []string{"USAGE:", "wrx"} {
				if !strings.Contains(out, want) {
					t.Errorf("help output lacks %q:\n%s", want, out)
				}
			}
			if args[0] != "--help" && !strings.Contains(out, "--model") {
				t.Errorf("command help does not document --model:\n%s", out)
			}
		})
	}
}

// TestErrors checks that bad input gives an error naming the problem.
func TestErrors(t *testing.T) {
	// Cases that never get as far as loading a model name one that need
	// not exist; the others run on a synthetic store.
	model := filepath.Join(shared.Dir(), "fixtures", "tiny-distilbert")
	tmp := t.TempDir()
	missingDir := filepath.Join(tmp, "no-such-model")
	notModel := t.TempDir() // a directory with no config.json
	modelFile := filepath.Join(tmp, "config.json")
	missingTSV := filepath.Join(tmp, "no-such.tsv")
	write := func(name, content string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("config.json", "{}")
	shortRow := write("short.tsv", "sentence\tlabel\na fine film\t1\nno label here\n")
	goodTSV := write("good.tsv", "sentence\tlabel\na fine film\t1\n")
	badLabel := write("label.tsv", "sentence\tlabel\na fine film\tpositive\n")

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  []string // substrings of the error
		model bool     // needs a model: run on a synthetic store instead
	}{
		{"classify without --model", "", []string{"classify", "text"}, []string{"--model"}, false},
		{"classify without --model or text", "", []string{"classify"}, []string{"--model"}, false},
		{"classify nonexistent model dir", "", []string{"classify", "--model", missingDir, "text"}, []string{missingDir}, false},
		{"classify model path is a file", "", []string{"classify", "--model", modelFile, "text"}, []string{modelFile, "not a directory"}, false},
		{"classify dir without a model", "", []string{"classify", "--model", notModel, "text"}, []string{notModel, "config.json"}, false},
		{"classify unknown backend", "", []string{"classify", "--model", model, "--backend", "no-such-backend", "text"}, []string{"no-such-backend"}, true},
		{"classify --threads on gorgonia", "", []string{"classify", "--model", model, "--backend", "gorgonia", "--threads", "2", "text"}, []string{`"gorgonia"`, "Threads"}, true},
		{"classify empty text", "", []string{"classify", "--model", model, ""}, []string{"empty text"}, true},
		{"classify blank text", "", []string{"classify", "--model", model, "  \t "}, []string{"empty text"}, true},
		{"classify empty stdin line", "good\n\n", []string{"classify", "--model", model}, []string{"empty text"}, true},
		{"classify nothing on stdin", "", []string{"classify", "--model", model}, []string{"no text"}, false},
		{"classify --pairs odd args", "", []string{"classify", "--model", model, "--pairs", "a", "b", "c"}, []string{"--pairs", "even", "3"}, false},
		{"classify --pairs stdin line without tab", "a\tb\nno tab\n", []string{"classify", "--model", model, "--pairs"}, []string{"stdin line 2", "tab"}, false},
		{"classify --max-len below 2", "", []string{"classify", "--model", model, "--max-len", "1", "text"}, []string{"max length 1"}, true},
		{"classify unknown flag", "", []string{"classify", "--no-such-flag", "text"}, []string{"no-such-flag"}, false},
		{"eval without --model", "", []string{"eval", "--task", "sst2", "--data", goodTSV}, []string{"--model"}, false},
		{"eval nonexistent model dir", "", []string{"eval", "--model", missingDir, "--task", "sst2", "--data", goodTSV}, []string{missingDir}, false},
		{"eval without --task", "", []string{"eval", "--model", model, "--data", shortRow}, []string{`"task"`}, false},
		{"eval without --data", "", []string{"eval", "--model", model, "--task", "sst2"}, []string{`"data"`}, false},
		{"eval unknown task", "", []string{"eval", "--model", model, "--task", "mnli", "--data", shortRow}, []string{`"mnli"`}, false},
		{"eval nonexistent data file", "", []string{"eval", "--model", model, "--task", "sst2", "--data", missingTSV}, []string{missingTSV}, false},
		{"eval data file is a directory", "", []string{"eval", "--model", model, "--task", "sst2", "--data", tmp}, []string{tmp}, false},
		{"eval short TSV row", "", []string{"eval", "--model", model, "--task", "sst2", "--data", shortRow}, []string{shortRow, "line 3"}, false},
		{"eval bad TSV label", "", []string{"eval", "--model", model, "--task", "sst2", "--data", badLabel}, []string{badLabel, "line 2", `"positive"`}, false},
		{"eval regression task on a classifier", "", []string{"eval", "--model", model, "--task", "stsb", "--data",
			write("stsb.tsv", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n0\tmain\tx\t2012\t1\tnone\tnone\tA man plays.\tA man is playing.\t4.5\n")},
			[]string{"stsb", "regression"}, true},
		{"tokenize without --model", "", []string{"tokenize", "text"}, []string{"--model"}, false},
		{"tokenize nonexistent model dir", "", []string{"tokenize", "--model", missingDir, "text"}, []string{missingDir}, false},
		{"tokenize dir without vocab", "", []string{"tokenize", "--model", notModel, "text"}, []string{"vocab.txt"}, false},
		{"tokenize two texts", "", []string{"tokenize", "--model", model, "a", "b"}, []string{"one TEXT", "2"}, false},
		{"tokenize no text", "", []string{"tokenize", "--model", model}, []string{"one TEXT", "0"}, false},
		{"tokenize unknown truncation", "", []string{"tokenize", "--model", model, "--truncation", "fast", "text"}, []string{"--truncation", `"fast"`}, false},
		{"classify unknown truncation", "", []string{"classify", "--model", model, "--truncation", "fast", "text"}, []string{"--truncation", `"fast"`}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.model {
				// The errors are the same for a store: one of random
				// weights runs without ../shared.
				uri := "mem:cli-errors-" + t.Name()
				storetest.Synth(t, uri, 32)
				args = slices.Clone(args)
				i := slices.Index(args, "--model")
				args[i], args[i+1] = "--store", uri
			}
			out, _, err := run(t, tc.stdin, args...)
			if err == nil {
				t.Fatalf("wrx %q succeeded, want an error; output:\n%s", tc.args, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}
