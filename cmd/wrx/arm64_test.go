package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/glue"
	"github.com/wrxlabs/wrx/internal/shared"
)

// TestArm64EndToEnd runs the static linux/arm64 wrx that
// scripts/build-release.sh builds, under qemu-user ($WRX_QEMU), on a store
// of the shared SST-2 model converted here on the host: the same store
// file serves both. wrx classify --json must give the host's labels with
// logits within 1e-4 at 32 bits and 1e-3 at 8, and wrx eval --limit 100 the
// host's accuracy. .ci/run sets WRX_QEMU; without it the test skips.
//
//	WRX_QEMU=$(command -v qemu-aarch64-static) go test -run TestArm64EndToEnd -v ./cmd/wrx
func TestArm64EndToEnd(t *testing.T) {
	qemu := os.Getenv("WRX_QEMU")
	if qemu == "" {
		t.Skip("set WRX_QEMU to qemu-aarch64 to run wrx for arm64 under it")
	}
	model := shared.Path(t, "models", "wrx-sst2-small")
	data := shared.Path(t, "data", "glue", "SST-2", "dev.tsv")
	dir := t.TempDir()

	start := time.Now()
	build := exec.Command("bash", "../../scripts/build-release.sh", dir)
	build.Env = append(os.Environ(), "TARGETS=linux/arm64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build-release.sh: %v\n%s", err, out)
	} else {
		t.Logf("built in %v: %s", time.Since(start).Round(time.Second), bytes.TrimSpace(out))
	}
	arm64 := filepath.Join(dir, "wrx-linux-arm64")

	store := "file:" + filepath.Join(dir, "sst2")
	if _, errOut, err := run(t, "", "convert", "--model", model, "--out", store, "--fidelities", "8,32", "--quiet"); err != nil {
		t.Fatalf("convert: %v\n%s", err, errOut)
	}

	ex, err := glue.ReadFile(context.Background(), data, glue.SST2, 20)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, e := range ex {
		texts = append(texts, e.Text)
	}
	emulated := func(stdin string, args ...string) string {
		t.Helper()
		start := time.Now()
		cmd := exec.Command(qemu, append([]string{arm64}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("arm64 wrx %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		t.Logf("arm64 wrx %s: %v", args[0], time.Since(start).Round(time.Second))
		return out.String()
	}
	host := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := run(t, stdin, args...)
		if err != nil {
			t.Fatalf("wrx %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		return out
	}

	for _, tc := range []struct {
		fidelity string
		n        int
	}{{"32", len(texts)}, {"8", 5}} {
		stdin := strings.Join(texts[:tc.n], "\n") + "\n"
		args := []string{"classify", "--store", store, "--fidelity", tc.fidelity, "--json"}
		compareClassify(t, tc.fidelity, host(stdin, args...), emulated(stdin, args...), tc.n)
	}

	args := []string{"eval", "--store", store, "--task", "sst2", "--data", data, "--limit", "100", "--json"}
	var want, got struct {
		N        int     `json:"n"`
		Accuracy float64 `json:"accuracy"`
	}
	if err := json.Unmarshal([]byte(host("", args...)), &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(emulated("", args...)), &got); err != nil {
		t.Fatal(err)
	}
	if got != want || want.N != 100 {
		t.Errorf("eval on arm64: %+v, on the host: %+v", got, want)
	}
	t.Logf("eval --limit 100: n %d, accuracy %.3f on both; %v in all", got.N, got.Accuracy, time.Since(start).Round(time.Second))
}

// compareClassify checks arm64's classify --json lines against the host's:
// the same texts and labels, logits within 1e-4.
func compareClassify(t *testing.T, fidelity, host, arm64 string, n int) {
	t.Helper()
	type line struct {
		Text   string    `json:"text"`
		Label  string    `json:"label"`
		Logits []float64 `json:"logits"`
	}
	parse := func(out string) []line {
		var ls []line
		for _, s := range strings.Split(strings.TrimSpace(out), "\n") {
			var l line
			if err := json.Unmarshal([]byte(s), &l); err != nil {
				t.Fatalf("%v: %q", err, s)
			}
			ls = append(ls, l)
		}
		return ls
	}
	want, got := parse(host), parse(arm64)
	if len(want) != n || len(got) != n {
		t.Fatalf("%s bits: %d lines on the host, %d on arm64, for %d texts", fidelity, len(want), len(got), n)
	}
	var maxDiff float64
	for i := range want {
		w, g := want[i], got[i]
		if g.Text != w.Text || g.Label != w.Label || len(g.Logits) != len(w.Logits) {
			t.Errorf("%s bits, text %d: arm64 %+v, host %+v", fidelity, i, g, w)
			continue
		}
		for j := range w.Logits {
			maxDiff = math.Max(maxDiff, math.Abs(g.Logits[j]-w.Logits[j]))
		}
	}
	// At 8 bits activations are quantized per token on the fly: Go fuses
	// multiply-adds on arm64 and not on amd64, and a last-bit difference
	// there can round one activation to the next integer step. The int8
	// path's own bound against float32 is 0.05 (model/bert's int8 parity
	// test); between the two hosts 1e-3 leaves room for a few such steps.
	tol := 1e-4
	if fidelity == "8" {
		tol = 1e-3
	}
	if maxDiff > tol {
		t.Errorf("%s bits: logits differ by up to %g between arm64 and the host (tolerance %g)", fidelity, maxDiff, tol)
	}
	t.Logf("%s bits: %d texts, same labels, logits within %.2g", fidelity, n, maxDiff)
}
