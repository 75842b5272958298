package wrx_test

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// goList returns, for every package matched by patterns, its import path
// and either its direct imports or (deps) everything it links.
func goList(t *testing.T, deps bool, patterns ...string) map[string][]string {
	t.Helper()
	args := append([]string{"list", "-json=ImportPath,Imports,Deps"}, patterns...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	got := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath    string
			Imports, Deps []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if deps {
			got[p.ImportPath] = p.Deps
		} else {
			got[p.ImportPath] = p.Imports
		}
	}
	return got
}

const mod = "github.com/wrxlabs/wrx"

// TestLayering checks that imports point one way, as README's package
// graph shows: cmd → serve → wrx → elastic (runner → pipeline, profile → plan) →
// shardstore → model/bert, quant, storage, backend; bench harnesses and
// dataset readers stay out of the product.
func TestLayering(t *testing.T) {
	rank := func(pkg string) int {
		p := strings.TrimPrefix(strings.TrimPrefix(pkg, mod), "/")
		switch {
		case strings.HasPrefix(p, "cmd/"), strings.HasPrefix(p, "bench"),
			p == "internal/storetest", p == "internal/profiletest", p == "internal/shared", p == "internal/hubtest":
			return 10 // commands, benches and test helpers may use anything
		case p == "serve":
			return 9
		case p == "":
			return 8
		case p == "elastic":
			return 7
		case strings.HasPrefix(p, "elastic/pipeline"), strings.HasPrefix(p, "elastic/profile"):
			return 6
		case strings.HasPrefix(p, "elastic/plan"), strings.HasPrefix(p, "elastic/internal"):
			return 5
		case strings.HasPrefix(p, "shardstore"):
			return 4
		case strings.HasPrefix(p, "model/"):
			return 3
		case strings.HasPrefix(p, "quant"):
			return 2
		case strings.HasPrefix(p, "storage"), strings.HasPrefix(p, "backend"), strings.HasPrefix(p, "glue"), strings.HasPrefix(p, "internal/"),
			p == "hub":
			return 1
		}
		t.Fatalf("package %s has no place in the layering", pkg)
		return 0
	}
	for pkg, imports := range goList(t, false, "./...") {
		for _, imp := range imports {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			if rank(imp) > rank(pkg) {
				t.Errorf("%s imports %s: an arrow back up", pkg, imp)
			}
		}
	}
	plan := goList(t, false, mod+"/elastic/plan")[mod+"/elastic/plan"]
	for _, imp := range plan {
		// Pure helpers only: fidelities, byte units, statistics, and the
		// free list its planning scratches are kept in.
		pure := []string{mod + "/quant", mod + "/internal/units", mod + "/internal/stats", mod + "/internal/freelist"}
		if strings.HasPrefix(imp, mod) && !slices.Contains(pure, imp) {
			t.Errorf("the planner imports %s; it must stay pure (profiles, sizes and requests only)", imp)
		}
	}
}

// TestLeanBinary checks that the shipped wrx command links no testing
// package, plotting or bench harness.
func TestLeanBinary(t *testing.T) {
	deps := goList(t, true, "./cmd/wrx")[mod+"/cmd/wrx"]
	for _, bad := range []string{"testing", "gonum.org/v1/plot", mod + "/bench/elastic", mod + "/internal/shared", mod + "/internal/storetest", mod + "/internal/hubtest"} {
		if slices.Contains(deps, bad) {
			t.Errorf("cmd/wrx links %s", bad)
		}
	}
}
