package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	elasticbench "github.com/wrxlabs/wrx/bench/elastic"
	"github.com/wrxlabs/wrx/internal/profiletest"
)

// profiledTinyStore converts a model of tiny-bert's shape and random
// weights into a memory store with hand-made importance and device
// profiles (profiletest.Synth): the command is tested, not the model.
func profiledTinyStore(t *testing.T) string {
	uri := "mem:cli-bench-" + t.Name()
	profiletest.Synth(t, uri)
	return uri
}

func TestBenchCommand(t *testing.T) {
	uri := profiledTinyStore(t)
	data := profiletest.SST2(t)
	out := filepath.Join(t.TempDir(), "bench")
	stdout, _, err := run(t, "", "--store", uri, "--data", data, "--targets", "1s,2s", "--budgets", "0,1MB",
		"--planner", "both", "--fidelity", "4,32", "--baseline-limit", "2", "--in-process", "--quiet", "--json", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	var rows []elasticbench.Row
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	// 2 targets × (4 baselines × 2 fidelities + 2 planners × 2 budgets).
	if want := 2 * (4*2 + 2*2); len(rows) != want {
		t.Errorf("%d rows, want %d", len(rows), want)
	}
	for _, f := range []string{elasticbench.ResultsFile, elasticbench.MetaFile, elasticbench.PlannersFile, elasticbench.MarkdownFile,
		elasticbench.AccuracyPNG, elasticbench.LatencyPNG, elasticbench.MemoryPNG} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	// Resuming a complete run measures nothing again.
	_, stderr, err := run(t, "", "--store", uri, "--data", data, "--targets", "1s,2s", "--budgets", "0,1MB",
		"--planner", "both", "--fidelity", "4,32", "--baseline-limit", "2", "--in-process", "--resume", "--out", out)
	if err != nil || strings.Count(stderr, "reused from the earlier run") != 2*4+2*2*2 || strings.Contains(stderr, "requests\n") {
		t.Errorf("--resume: %v; log:\n%s", err, stderr)
	}
	stdout, _, err = run(t, "", "report", out)
	if err != nil || !strings.Contains(stdout, "**Baselines**") || !strings.Contains(stdout, "**Planners on the same requests**") {
		t.Errorf("bench report: %v\n%s", err, stdout)
	}

	stdout, _, err = run(t, "", "importance", "--store", uri, "--data", data, "--k", "2,4", "--seeds", "2", "--quiet", "--out", out)
	if err != nil || !strings.Contains(stdout, "| 2 |") || !strings.Contains(stdout, "| 4 |") {
		t.Errorf("bench importance: %v\n%s", err, stdout)
	}

	var rank elasticbench.PlanRankReport
	stdout, _, err = run(t, "", "plan-rank", "--store", uri, "--data", data, "--limit", "4", "--plans", "4", "--quiet", "--json")
	if err == nil {
		err = json.Unmarshal([]byte(stdout), &rank)
	}
	if err != nil || len(rank.Rows) < 2 || rank.N == 0 {
		t.Errorf("bench plan-rank: %v\n%s", err, stdout)
	}
	for _, r := range rank.Rows {
		if r.MeasuredKL < 0 || r.PredictedLoss < 0 || r.Shards == 0 {
			t.Errorf("bench plan-rank row %+v", r)
		}
	}

	stdout, _, err = run(t, "", "plan-gap", "--store", uri, "--budgets", "0,1MB", "--lengths", "8,32", "--targets", "3")
	if err != nil || !strings.Contains(stdout, "| optimal |") || !strings.Contains(stdout, "| greedy |") {
		t.Errorf("bench plan-gap: %v\n%s", err, stdout)
	}
}

func TestBenchQuantizedFidelity(t *testing.T) {
	uri := profiledTinyStore(t)
	data := profiletest.SST2(t)
	out := filepath.Join(t.TempDir(), "bench")
	_, _, err := run(t, "", "--store", uri, "--data", data, "--limit", "2", "--targets", "1s", "--modes", "hold-in-memory,quantized-hold",
		"--fidelity", "32", "--quantized-fidelity", "4", "--in-process", "--quiet", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := elasticbench.ReadReport(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range rep.Units {
		got = append(got, u.Unit.String())
	}
	if want := []string{"hold-in-memory@32", "quantized-hold@4"}; !slices.Equal(got, want) {
		t.Errorf("units %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(out, elasticbench.VerdictsFile)); err != nil {
		t.Error(err)
	}
}

func TestBenchErrors(t *testing.T) {
	data := profiletest.SST2(t)
	out := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--data", data, "--out", out}, "--store is required"},
		{[]string{"--store", "mem:x", "--out", out}, "--data is required"},
		{[]string{"--store", "mem:x", "--data", data}, "--out is required"},
		{[]string{"--store", "mem:x", "--data", data, "--out", out, "--modes", "wrx,turbo"}, "turbo"},
		{[]string{"--store", "mem:x", "--data", data, "--out", out, "--planner", "magic"}, "--planner"},
		{[]string{"--store", "mem:x", "--data", data, "--out", out, "--targets", "soon"}, "--targets"},
		{[]string{"--store", "mem:x", "--data", data, "--out", out, "--budgets", "lots"}, "--budgets"},
		{[]string{"--store", "mem:x", "--data", data, "--out", out, "--throttle", "fast"}, "--throttle"},
		{[]string{"--store", "mem:x", "--data", data, "--out", out, "--fidelity", "7"}, "--fidelity"},
		{[]string{"--store", "mem:x", "--data", data, "--out", out, "--quantized-fidelity", "7"}, "--quantized-fidelity"},
		{[]string{"--store", "mem:x", "--data", data, "--out", out, "--task", "stsb"}, "regression"},
		{[]string{"stray"}, "unexpected argument"},
		{[]string{"report"}, "output directory"},
		{[]string{"gemm", "--m", "x"}, "--m"},
	}
	for _, c := range cases {
		_, _, err := run(t, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("wrx %s: err = %v, want one mentioning %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

func TestBenchGemmJSON(t *testing.T) {
	stdout, _, err := run(t, "", "gemm", "--json", "--backends", "native", "--m", "1", "--rounds", "1")
	if err != nil {
		t.Fatal(err)
	}
	var res []map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(res) == 0 {
		t.Fatal("no results")
	}
	for _, r := range res {
		for _, k := range []string{"backend", "m", "k", "n", "gflops"} {
			if _, ok := r[k]; !ok {
				t.Errorf("result %v lacks %q", r, k)
			}
		}
		if r["backend"] != "native" || r["m"] != 1.0 || !(r["gflops"].(float64) > 0) {
			t.Errorf("result %v: want backend native, m 1, positive gflops", r)
		}
	}
}

// run runs wrx-bench with args, capturing its output.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter, app.Reader = &out, &errOut, strings.NewReader(stdin)
	// urfave/cli calls os.Exit for errors that carry an exit code; a test
	// must see them as errors instead.
	app.ExitErrHandler = func(*cli.Context, error) {}
	err = app.RunContext(context.Background(), append([]string{"wrx-bench"}, args...))
	return out.String(), errOut.String(), err
}
