package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wrxlabs/wrx/internal/shared"
)

func TestParseFlagsErrors(t *testing.T) {
	ok := []string{"--model", "m", "--data", "d"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"--data", "d"}, "give one of --model and --store"},
		{"model and store", append(ok, "--store", "file:/x"), "give one of --model and --store"},
		{"fidelity without store", append(ok, "--fidelity", "8"), "--fidelity needs --store"},
		{"no data", []string{"--model", "m"}, "--data is required"},
		{"stray argument", append(ok, "extra"), "unexpected arguments"},
		{"negative limit", append(ok, "--limit", "-1"), "--limit -1"},
		{"negative threads", append(ok, "--threads", "-2"), "--threads -2"},
		{"zero rounds", append(ok, "--rounds", "0"), "--rounds 0"},
		{"tiny max-len", append(ok, "--max-len", "2"), "--max-len 2"},
		{"unknown flag", append(ok, "--batch", "4"), "flag provided but not defined"},
		{"one preds file to compare", []string{"--compare", "a.jsonl"}, "want two preds files"},
		{"three preds files to compare", []string{"--compare", "a,b,c"}, "want two preds files"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseFlags(%q) error = %v, want one containing %q", tc.args, err, tc.want)
			}
		})
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: error = %v, want flag.ErrHelp", err)
	}
}

func TestParseFlagsDefaults(t *testing.T) {
	got, err := parseFlags([]string{"--model", "m", "--data", "d"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{model: "m", data: "d", limit: 200, backend: "native", threads: 1, warmup: 10, rounds: 1, maxLen: 128}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(config{})); d != "" {
		t.Errorf("defaults mismatch (-want +got):\n%s", d)
	}
}

func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.tsv")
	if err := os.WriteFile(empty, []byte("sentence\tlabel\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  config
		want string
	}{
		{"unknown backend", config{model: dir, data: empty, backend: "cuda", rounds: 1}, `"cuda" is not registered`},
		{"missing data", config{model: dir, data: filepath.Join(dir, "nope.tsv"), backend: "native", rounds: 1}, "nope.tsv"},
		{"no sentences", config{model: dir, data: empty, backend: "native", rounds: 1}, "empty.tsv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.cfg, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// reference is one line of the model's reference.jsonl, computed with
// PyTorch: the first dev sentences in file order.
type reference struct {
	Text     string    `json:"text"`
	InputIDs []int     `json:"input_ids"`
	Logits   []float32 `json:"logits"`
}

func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRunMatchesReference runs the program on the first dev sentences and
// checks the files the peers rely on against PyTorch's reference: the token
// ids every peer is fed, and the logits whose argmax is the label compared.
func TestRunMatchesReference(t *testing.T) {
	model := shared.Path(t, "models", "wrx-sst2-small")
	data := shared.Path(t, "data", "glue", "SST-2", "dev.tsv")
	refs := readJSONL[reference](t, filepath.Join(model, "reference.jsonl"))
	const n = 4
	dir := t.TempDir()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0)) // run sets it from --threads
	cfg := config{
		model: model, data: data, limit: n, backend: "native", threads: 1, warmup: 1, rounds: 2, maxLen: 128, jsonOut: true,
		predsPath: filepath.Join(dir, "preds.jsonl"), idsPath: filepath.Join(dir, "ids.jsonl"),
	}
	var out strings.Builder
	if err := run(context.Background(), cfg, &out); err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out.String())
	}
	if res.Sentences != n || res.N != n || res.Threads != 1 || res.Rounds != 2 {
		t.Errorf("summary = %+v, want %d sentences, 1 thread, 2 rounds", res, n)
	}
	if !(res.Min > 0 && res.Min <= res.Median && res.Median <= res.P95 && res.P95 <= res.Max) {
		t.Errorf("latencies out of order: %+v", res.summary)
	}

	ids := readJSONL[idsRecord](t, cfg.idsPath)
	preds := readJSONL[record](t, cfg.predsPath)
	if len(ids) != n || len(preds) != n {
		t.Fatalf("got %d ids and %d preds lines, want %d", len(ids), len(preds), n)
	}
	for i := range n {
		if d := cmp.Diff(refs[i].InputIDs, ids[i].InputIDs); d != "" {
			t.Errorf("sentence %d (%q) ids mismatch (-reference +got):\n%s", i, refs[i].Text, d)
		}
		if want := make([]int, len(refs[i].InputIDs)); !cmp.Equal(want, ids[i].TokenTypeIDs) {
			t.Errorf("sentence %d token types = %v, want all zero", i, ids[i].TokenTypeIDs)
		}
		if d := cmp.Diff(refs[i].Logits, preds[i].Logits, cmpopts.EquateApprox(0, 1e-3)); d != "" {
			t.Errorf("sentence %d logits mismatch (-reference +got):\n%s", i, d)
		}
		wantPred := 0
		if refs[i].Logits[1] > refs[i].Logits[0] {
			wantPred = 1
		}
		if preds[i].Pred != wantPred || preds[i].I != i || preds[i].Line != i+2 || preds[i].MS <= 0 {
			t.Errorf("sentence %d record = %+v, want pred %d, line %d, positive ms", i, preds[i], wantPred, i+2)
		}
	}
}

// TestCompare compares two preds files: accuracies, agreement, and an
// interval that contains the difference.
func TestCompare(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, preds []int) string {
		var recs []record
		for i, p := range preds {
			recs = append(recs, record{I: i, Line: i + 2, Gold: 1, Pred: p})
		}
		path := filepath.Join(dir, name)
		if err := writeJSONL(path, recs); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a := write("a.jsonl", []int{1, 1, 1, 0, 1, 1, 0, 1})
	b := write("b.jsonl", []int{1, 0, 1, 0, 1, 0, 0, 1})
	var out strings.Builder
	if err := compare(a, b, false, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"accuracy 0.7500", "vs 0.5000", "agree on 75.00 %", "difference +25.00 points"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("compare printed %q, want it to contain %q", out.String(), want)
		}
	}
	c := write("c.jsonl", []int{1, 1})
	if err := compare(a, c, false, io.Discard); err == nil {
		t.Error("compare of files with different sentence counts succeeded")
	}
}
