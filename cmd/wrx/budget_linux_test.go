package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// runToRun is what the test adds to the allowance for the variation of
// the measurement between runs, which moves with when the collector runs:
// over two runs of the four budgets here, after requests stopped leaving
// garbage (1 MiB heap headroom), the excess over the budget was
// 0.01–1.34 MB, against allowances of 1.65–2.17 MB.
const runToRun = 512 << 10

// TestBudgetBoundsMeasuredRSS runs wrx eval over the SST-2 model in its own
// process at several total budgets and checks the resident set it
// measured, peak minus the floor before any weight, against the budget:
// it may exceed it by units.BudgetAllowance (1 MiB + 5%: code pages a
// request touches, page rounding, the collected heap's garbage within the
// headroom rss.LimitHeap gives it) and runToRun at most.
func TestBudgetBoundsMeasuredRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs wrx eval four times in child processes")
	}
	model := shared.Path(t, "models", "wrx-sst2-small")
	dev := shared.Path(t, "data", "glue", "SST-2", "dev.tsv")
	ctx := context.Background()
	uri := "file:" + t.TempDir() + "/s"
	m, err := bert.Load(model, bert.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := bert.LoadTokenizer(model)
	if err != nil {
		t.Fatal(err)
	}
	if err := shardstore.Convert(ctx, uri, m, tok, shardstore.ConvertOptions{Fidelities: []quant.Fidelity{2, 4, 8, 32}}); err != nil {
		t.Fatal(err)
	}
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	// The weight-error importance needs no inference; the planner's
	// choices, not their accuracy, are what this test is about.
	imp, err := profile.WeightErrorImportance(ctx, s, m, profile.ErrorOptions{})
	if err == nil {
		err = profile.SaveImportance(ctx, uri, s, imp)
	}
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	runToEnd(t, "profile", "device", "--store", uri)

	for _, budget := range []string{"0", "3MB", "6MB", "12MB"} {
		t.Run(budget, func(t *testing.T) {
			out, err := wrxCommand("eval", "--store", uri, "--task", "sst2", "--data", dev, "--limit", "150",
				"--target", (40 * time.Millisecond).String(), "--budget", budget, "--best-effort", "--json").Output()
			if err != nil {
				t.Fatalf("wrx eval --budget %s: %v\n%s", budget, err, out)
			}
			var res struct {
				N             int            `json:"n"`
				ModelRSSBytes int64          `json:"model_rss_bytes"`
				Memory        *plan.Division `json:"memory"`
			}
			if err := json.Unmarshal(out, &res); err != nil || res.Memory == nil || res.N != 150 {
				t.Fatalf("wrx eval --budget %s printed %s (%v)", budget, out, err)
			}
			total := res.Memory.Total
			if want, _ := units.ParseBytes(budget); want > 0 && total != want {
				t.Errorf("divided %d bytes, asked for %d", total, want)
			}
			allow := units.BudgetAllowance(total) + runToRun
			t.Logf("budget %s (%s): measured %s, allowance %s", units.FormatBytes(total), res.Memory, units.FormatBytes(res.ModelRSSBytes), units.FormatBytes(allow))
			if res.ModelRSSBytes <= 0 {
				t.Fatalf("no measured RSS in %s", out)
			}
			if res.ModelRSSBytes > total+allow {
				t.Errorf("measured model RSS %s exceeds the budget %s by more than the allowance %s",
					units.FormatBytesExact(res.ModelRSSBytes), units.FormatBytesExact(total), units.FormatBytes(allow))
			}
		})
	}
}
