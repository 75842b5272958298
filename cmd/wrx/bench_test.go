package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	elasticbench "github.com/wrxlabs/wrx/bench/elastic"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// profiledTinyStore converts tiny-bert into a memory store with hand-made
// importance and device profiles.
func profiledTinyStore(t *testing.T) string {
	t.Helper()
	dir := shared.Path(t, "fixtures", "tiny-bert")
	m, err := bert.Load(dir, bert.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := bert.LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	name := "cli-bench-" + t.Name()
	t.Cleanup(func() { storage.DeleteMem(name) })
	uri := "mem:" + name
	ctx := context.Background()
	if err := shardstore.Convert(ctx, uri, m, tok, shardstore.ConvertOptions{Fidelities: []quant.Fidelity{4, 32}}); err != nil {
		t.Fatal(err)
	}
	imp := &plan.ImportanceProfile{Layers: 3, Heads: 4, Bits: []quant.Fidelity{4, 32}}
	for l := range 3 {
		imp.Shards = append(imp.Shards, nil)
		for h := range 4 {
			imp.Shards[l] = append(imp.Shards[l], plan.ShardImportance{Loss: []float64{0.01, 0}, Dropped: float64(1 + l*4 + h)})
		}
	}
	if err := profile.SaveImportance(ctx, uri, imp); err != nil {
		t.Fatal(err)
	}
	us := time.Microsecond
	dev := &plan.DeviceProfile{Backend: "native", ReadBandwidth: 1e9, ReadLatency: 10 * us,
		Compute: plan.ComputeTable{SeqLens: []int{8, 64}, ShardCounts: []int{0, 4},
			Layer: [][]time.Duration{{10 * us, 50 * us}, {20 * us, 200 * us}},
			Embed: []time.Duration{5 * us, 10 * us}, Head: []time.Duration{5 * us, 10 * us}}}
	if err := profile.SaveDevice(ctx, uri, dev); err != nil {
		t.Fatal(err)
	}
	return uri
}

func writeSST2(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dev.tsv")
	rows := "sentence\tlabel\na gorgeous , witty , seductive movie .\t1\nthe movie is bad .\t0\nunflinchingly bleak and desperate\t0\n"
	if err := os.WriteFile(path, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBenchCommand(t *testing.T) {
	uri := profiledTinyStore(t)
	data := writeSST2(t)
	out := filepath.Join(t.TempDir(), "bench")
	stdout, _, err := run(t, "", "bench", "--store", uri, "--data", data, "--targets", "1s,2s", "--budgets", "0,1MB",
		"--planner", "both", "--fidelity", "4,32", "--baseline-limit", "2", "--in-process", "--quiet", "--json", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	var rows []elasticbench.Row
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	// 2 targets × (3 baselines × 2 fidelities + 2 planners × 2 budgets).
	if len(rows) != 2*(3*2+2*2) {
		t.Errorf("%d rows, want 20", len(rows))
	}
	for _, f := range []string{elasticbench.ResultsFile, elasticbench.MetaFile, elasticbench.PlannersFile, elasticbench.MarkdownFile,
		elasticbench.AccuracyPNG, elasticbench.LatencyPNG, elasticbench.MemoryPNG} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	// Resuming a complete run measures nothing again.
	_, stderr, err := run(t, "", "bench", "--store", uri, "--data", data, "--targets", "1s,2s", "--budgets", "0,1MB",
		"--planner", "both", "--fidelity", "4,32", "--baseline-limit", "2", "--in-process", "--resume", "--out", out)
	if err != nil || strings.Count(stderr, "reused from the earlier run") != 2*3+2*2*2 || strings.Contains(stderr, "requests\n") {
		t.Errorf("--resume: %v; log:\n%s", err, stderr)
	}
	stdout, _, err = run(t, "", "bench", "report", out)
	if err != nil || !strings.Contains(stdout, "**Baselines**") || !strings.Contains(stdout, "**Planners on the same requests**") {
		t.Errorf("bench report: %v\n%s", err, stdout)
	}

	stdout, _, err = run(t, "", "bench", "importance", "--store", uri, "--data", data, "--k", "2,4", "--seeds", "2", "--quiet", "--out", out)
	if err != nil || !strings.Contains(stdout, "| 2 |") || !strings.Contains(stdout, "| 4 |") {
		t.Errorf("bench importance: %v\n%s", err, stdout)
	}
}

func TestBenchErrors(t *testing.T) {
	data := writeSST2(t)
	out := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--data", data, "--out", out}, "--store is required"},
		{[]string{"bench", "--store", "mem:x", "--out", out}, "--data is required"},
		{[]string{"bench", "--store", "mem:x", "--data", data}, "--out is required"},
		{[]string{"bench", "--store", "mem:x", "--data", data, "--out", out, "--modes", "wrx,turbo"}, "turbo"},
		{[]string{"bench", "--store", "mem:x", "--data", data, "--out", out, "--planner", "magic"}, "--planner"},
		{[]string{"bench", "--store", "mem:x", "--data", data, "--out", out, "--targets", "soon"}, "--targets"},
		{[]string{"bench", "--store", "mem:x", "--data", data, "--out", out, "--budgets", "lots"}, "--budgets"},
		{[]string{"bench", "--store", "mem:x", "--data", data, "--out", out, "--throttle", "fast"}, "--throttle"},
		{[]string{"bench", "--store", "mem:x", "--data", data, "--out", out, "--fidelity", "7"}, "--fidelity"},
		{[]string{"bench", "--store", "mem:x", "--data", data, "--out", out, "--task", "stsb"}, "regression"},
		{[]string{"bench", "stray"}, "unexpected argument"},
		{[]string{"bench", "report"}, "output directory"},
		{[]string{"bench", "gemm", "--m", "x"}, "--m"},
	}
	for _, c := range cases {
		_, _, err := run(t, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("wrx %s: err = %v, want one mentioning %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

func TestBenchGemmJSON(t *testing.T) {
	stdout, _, err := run(t, "", "bench", "gemm", "--json", "--backends", "native", "--m", "1", "--rounds", "1")
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
