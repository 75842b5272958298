package wrx_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/quant"
)

func TestDefaultStoreMatchesDirectory(t *testing.T) {
	dir := shared.Path(t, "fixtures", "tiny-bert")
	ctx := context.Background()
	opts := wrx.DefaultStoreOptions{CacheDir: t.TempDir(), Fidelities: []quant.Fidelity{2, 32}}
	uri, converted, err := wrx.DefaultStore(ctx, dir, opts)
	if err != nil || !converted {
		t.Fatalf("first DefaultStore: %q converted=%v err=%v", uri, converted, err)
	}
	again, converted, err := wrx.DefaultStore(ctx, dir, opts)
	if err != nil || converted || again != uri {
		t.Fatalf("second DefaultStore: %q converted=%v err=%v, want %q reused", again, converted, err, uri)
	}
	direct, err := wrx.Open(ctx, dir, wrx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	full, err := wrx.Open(ctx, uri, wrx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	low, err := wrx.Open(ctx, uri, wrx.Options{Fidelity: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer low.Close()
	text := "a gorgeous, witty, seductive movie."
	want, err := direct.Classify(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	got, err := full.Classify(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want.Logits {
		if got.Logits[i] != want.Logits[i] {
			t.Fatalf("store at 32 bits: logits %v, directory %v", got.Logits, want.Logits)
		}
	}
	q, err := low.Classify(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	same := true
	for i := range want.Logits {
		same = same && q.Logits[i] == want.Logits[i]
	}
	if same {
		t.Error("2-bit logits are identical to fp32: the fidelity was not applied")
	}
	if _, err := wrx.Open(ctx, uri, wrx.Options{Fidelity: 5}); err == nil || !strings.Contains(err.Error(), "5 bits") {
		t.Errorf("fidelity not in store: err = %v", err)
	}
	if _, err := wrx.Open(ctx, uri, wrx.Options{Throttle: "fast"}); err == nil || !strings.Contains(err.Error(), "fast") {
		t.Errorf("bad throttle: err = %v", err)
	}
}

func TestOpenUnknownSource(t *testing.T) {
	_, err := wrx.Open(context.Background(), "nosuch:thing", wrx.Options{})
	if err == nil || !strings.Contains(err.Error(), "nosuch:thing") {
		t.Fatalf("err = %v, want the source named", err)
	}
}

// TestStoreAtEightBitsRunsInt8: wrx-sst2-small from a store opened at 8
// bits (layers and word table held as int8, native's integer kernels)
// gives logits within 0.05 of PyTorch's, the bound model/bert's int8
// parity test states, and so PyTorch's label wherever PyTorch's margin
// exceeds twice that; some logit is more than 1e-4 away (the float32
// parity bound), so the fidelity was applied.
func TestStoreAtEightBitsRunsInt8(t *testing.T) {
	dir := shared.Path(t, "models", "wrx-sst2-small")
	ctx := context.Background()
	uri, _, err := wrx.DefaultStore(ctx, dir, wrx.DefaultStoreOptions{CacheDir: t.TempDir(), Fidelities: []quant.Fidelity{8}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := wrx.Open(ctx, uri, wrx.Options{Fidelity: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	worst := 0.0
	for i, r := range shared.References(t, dir) {
		p, err := c.ClassifyPair(ctx, r.Text, r.Pair())
		if err != nil {
			t.Fatal(err)
		}
		best, second := 0, math.Inf(-1)
		for j, want := range r.Logits {
			worst = math.Max(worst, math.Abs(float64(p.Logits[j])-want))
			if want > r.Logits[best] {
				best = j
			}
		}
		for j, v := range r.Logits {
			if j != best {
				second = math.Max(second, v)
			}
		}
		if p.Class != best && r.Logits[best]-second > 0.1 {
			t.Errorf("line %d: 8-bit logits %v, PyTorch %v: another label", i+1, p.Logits, r.Logits)
		}
	}
	t.Logf("max |logit - PyTorch| = %.2e", worst)
	if worst > 0.05 || worst <= 1e-4 {
		t.Errorf("max |logit - PyTorch| = %.2e, want in (1e-4, 0.05]", worst)
	}
}
