package glue

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wrxlabs/wrx/internal/shared"
)

func TestReadSharedFiles(t *testing.T) {
	// Row counts from ../shared/data/README.md.
	cases := []struct {
		task Task
		dir  string
		n    int
	}{
		{SST2, "SST-2", 872},
		{RTE, "RTE", 277},
		{MRPC, "MRPC", 408},
		{QNLI, "QNLI", 5463},
		{STSB, "STS-B", 1500},
	}
	for _, c := range cases {
		t.Run(string(c.task), func(t *testing.T) {
			p := shared.Path(t, "data", "glue", c.dir, "dev.tsv")
			ex, err := ReadFile(context.Background(), p, c.task, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(ex) != c.n {
				t.Errorf("read %d rows, want %d", len(ex), c.n)
			}
			if c.task != SST2 && ex[0].Pair == "" {
				t.Errorf("first row has no sentence pair: %+v", ex[0])
			}
		})
	}
}

func TestReadParsesColumns(t *testing.T) {
	in := "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n" +
		"1\t11\t12\tHe said \"hi.\tShe said hi.\n" +
		"0\t13\t14\tA\tB\n"
	got, err := Read(context.Background(), strings.NewReader(in), MRPC, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Example{
		{Line: 2, Text: `He said "hi.`, Pair: "She said hi.", Label: 1},
		{Line: 3, Text: "A", Pair: "B", Label: 0},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}
}

func TestReadBadRows(t *testing.T) {
	cases := []struct {
		name, in string
		task     Task
		wantErr  string
	}{
		{"too few fields", "sentence\tlabel\ngood\t1\nbad row\n", SST2, "line 3"},
		{"unknown label", "sentence\tlabel\ngood\tyes\n", SST2, `line 2: unknown label "yes"`},
		{"bad score", strings.Repeat("h\t", 9) + "h\n" + strings.Repeat("x\t", 9) + "high\n", STSB, "line 2: score"},
		{"empty", "sentence\tlabel\n", SST2, "no labelled rows"},
		{"unknown task", "a\n", Task("cola"), `unknown task "cola"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read(context.Background(), strings.NewReader(c.in), c.task, 0)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, c.wantErr)
			}
		})
	}
}

func TestReadMissingFile(t *testing.T) {
	_, err := ReadFile(context.Background(), "/nonexistent/dev.tsv", SST2, 0)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/dev.tsv") {
		t.Fatalf("err = %v, want the path named", err)
	}
}

func TestMetrics(t *testing.T) {
	pred := []int{1, 1, 0, 0, 1}
	gold := []int{1, 0, 0, 1, 1}
	if got := Accuracy(pred, gold); got != 0.6 {
		t.Errorf("accuracy = %v, want 0.6", got)
	}
	// tp=2 fp=1 fn=1 → F1 = 4/6.
	if got := F1(pred, gold); math.Abs(got-4.0/6) > 1e-12 {
		t.Errorf("F1 = %v, want 0.6667", got)
	}
	x := []float64{1, 2, 3, 4}
	if got := Pearson(x, []float64{2, 4, 6, 8}); math.Abs(got-1) > 1e-12 {
		t.Errorf("pearson = %v, want 1", got)
	}
	// Monotone but not linear: Spearman 1, Pearson below 1.
	y := []float64{1, 10, 100, 1000}
	if got := Spearman(x, y); math.Abs(got-1) > 1e-12 {
		t.Errorf("spearman = %v, want 1", got)
	}
	if got := ranks([]float64{5, 1, 5, 3}); !cmp.Equal(got, []float64{3.5, 1, 3.5, 2}) {
		t.Errorf("ranks with ties = %v", got)
	}
}
