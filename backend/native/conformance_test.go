package native

import (
	"testing"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/backend/backendtest"
)

func TestConformance(t *testing.T) {
	for _, p := range paths() {
		t.Run(p.name, func(t *testing.T) { backendtest.Run(t, p.b) })
	}
}

func TestRegistered(t *testing.T) {
	b, err := backend.Get("native")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "native" {
		t.Fatalf("Name() = %q, want native", b.Name())
	}
}

func BenchmarkKernels(b *testing.B) { backendtest.Bench(b, New(Options{})) }

func BenchmarkKernelsPureGo(b *testing.B) { backendtest.Bench(b, New(Options{PureGo: true})) }
