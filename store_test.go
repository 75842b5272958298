package wrx_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage/flatfile"
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
	// The directory's model is held packed (bert.Model.Pack), whose
	// kernels sum in another order than the store's shard products: the
	// same weights give logits equal within float32 rounding.
	const tol = 1e-5
	for i := range want.Logits {
		if d := math.Abs(float64(got.Logits[i] - want.Logits[i])); d > tol*(1+math.Abs(float64(want.Logits[i]))) {
			t.Fatalf("store at 32 bits: logits %v, directory %v", got.Logits, want.Logits)
		}
	}
	q, err := low.Classify(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	same := true
	for i := range want.Logits {
		same = same && math.Abs(float64(q.Logits[i]-want.Logits[i])) <= tol*(1+math.Abs(float64(want.Logits[i])))
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

// TestDefaultStoreKeepsWhatDoesNotOpen checks that DefaultStore converts
// only a missing store: one that is there but does not open, because a
// read fails or it is damaged, is an error naming it, and is left exactly
// as it was, never deleted or converted again. The store's URI names the
// store format.
func TestDefaultStoreKeepsWhatDoesNotOpen(t *testing.T) {
	dir := shared.Path(t, "fixtures", "tiny-bert")
	ctx := context.Background()
	opts := wrx.DefaultStoreOptions{CacheDir: t.TempDir(), Fidelities: []quant.Fidelity{4}}
	uri, converted, err := wrx.DefaultStore(ctx, dir, opts)
	if err != nil || !converted {
		t.Fatalf("first DefaultStore: %q converted=%v err=%v", uri, converted, err)
	}
	if want := fmt.Sprintf("-f%d-", shardstore.FormatVersion); !strings.Contains(uri, want) {
		t.Errorf("default store %s does not name the store format (%s)", uri, want)
	}
	path := strings.TrimPrefix(uri, "file:")
	index := filepath.Join(path, flatfile.IndexFile)
	good, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		damage func() error
		saying string
	}{
		// Root can read any file, so a read error is made by putting a
		// directory where the index file was.
		{"read error", func() error {
			if err := os.Remove(index); err != nil {
				return err
			}
			return os.Mkdir(index, 0o755)
		}, "is a directory"},
		{"damaged index", func() error {
			bad := append([]byte(nil), good...)
			bad[40] ^= 0xFF
			return os.WriteFile(index, bad, 0o644)
		}, "checksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.damage(); err != nil {
				t.Fatal(err)
			}
			before := listTree(t, path)
			got, converted, err := wrx.DefaultStore(ctx, dir, opts)
			var se *wrx.StoreError
			if !errors.As(err, &se) || se.URI != uri || converted || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.saying) {
				t.Errorf("DefaultStore over a store that does not open: %q converted=%v err=%v; want an error naming %s and saying %q", got, converted, err, path, tc.saying)
			}
			if after := listTree(t, path); after != before {
				t.Errorf("the store was changed:\nbefore %s\nafter  %s", before, after)
			}
			os.RemoveAll(index)
			if err := os.WriteFile(index, good, 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
	if again, converted, err := wrx.DefaultStore(ctx, dir, opts); err != nil || converted || again != uri {
		t.Errorf("repaired store: %q converted=%v err=%v, want %q reused", again, converted, err, uri)
	}
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if again, converted, err := wrx.DefaultStore(ctx, dir, opts); err != nil || !converted || again != uri {
		t.Errorf("missing store: %q converted=%v err=%v, want %q converted again", again, converted, err, uri)
	}
}

// listTree describes every file under dir: name, size, mode and
// modification time.
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %v %d; ", p, fi.Size(), fi.Mode(), fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestDefaultStoreConcurrentFirstUse: several goroutines asking for the
// same model's default store at once all get it; at most one conversion
// is committed and the store opens.
func TestDefaultStoreConcurrentFirstUse(t *testing.T) {
	dir := shared.Path(t, "fixtures", "tiny-bert")
	ctx := context.Background()
	opts := wrx.DefaultStoreOptions{CacheDir: t.TempDir(), Fidelities: []quant.Fidelity{4}}
	const n = 4
	uris := make([]string, n)
	errs := make([]error, n)
	var converted atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var c bool
			uris[i], c, errs[i] = wrx.DefaultStore(ctx, dir, opts)
			if c {
				converted.Add(1)
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || uris[i] != uris[0] {
			t.Errorf("caller %d: %q, %v; caller 0 got %q", i, uris[i], errs[i], uris[0])
		}
	}
	if converted.Load() != 1 {
		t.Errorf("%d callers say they converted, want 1", converted.Load())
	}
	c, err := wrx.Open(ctx, uris[0], wrx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
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

// TestStoreAtFourBitsRunsInt4: wrx-sst2-small from a store opened at 4
// bits on native (4-bit shards multiplied with integer kernels,
// backend.Int4) gives logits close to the same shards multiplied in
// float32 (gorgonia, which has no integer kernels): within 0.1, and the
// same label wherever the float32 margin exceeds twice that; some logit
// differs, so the integer path was taken.
func TestStoreAtFourBitsRunsInt4(t *testing.T) {
	dir := shared.Path(t, "models", "wrx-sst2-small")
	ctx := context.Background()
	uri, _, err := wrx.DefaultStore(ctx, dir, wrx.DefaultStoreOptions{CacheDir: t.TempDir(), Fidelities: []quant.Fidelity{4}})
	if err != nil {
		t.Fatal(err)
	}
	ci, err := wrx.Open(ctx, uri, wrx.Options{Fidelity: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer ci.Close()
	cf, err := wrx.Open(ctx, uri, wrx.Options{Fidelity: 4, Backend: "gorgonia"})
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	worst := 0.0
	for i, r := range shared.References(t, dir) {
		pi, err := ci.ClassifyPair(ctx, r.Text, r.Pair())
		if err != nil {
			t.Fatal(err)
		}
		pf, err := cf.ClassifyPair(ctx, r.Text, r.Pair())
		if err != nil {
			t.Fatal(err)
		}
		best, second := 0, math.Inf(-1)
		for j, v := range pf.Logits {
			worst = math.Max(worst, math.Abs(float64(pi.Logits[j]-v)))
			if v > pf.Logits[best] {
				best = j
			}
		}
		for j, v := range pf.Logits {
			if j != best {
				second = math.Max(second, float64(v))
			}
		}
		if pi.Class != best && float64(pf.Logits[best])-second > 0.2 {
			t.Errorf("line %d: integer logits %v, float32 %v: another label", i+1, pi.Logits, pf.Logits)
		}
	}
	t.Logf("max |logit(int4) - logit(float32)| = %.2e", worst)
	if worst > 0.1 || worst <= 1e-5 {
		t.Errorf("max |logit(int4) - logit(float32)| = %.2e, want in (1e-5, 0.1]", worst)
	}
}
