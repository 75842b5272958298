package native

import (
	"runtime"
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
	for _, c := range []struct{ threads, want int }{{0, runtime.GOMAXPROCS(0)}, {3, 3}} {
		b, err := backend.Open("native", backend.Config{Threads: c.threads})
		if err != nil {
			t.Fatal(err)
		}
		if b.Name() != "native" {
			t.Fatalf("Name() = %q, want native", b.Name())
		}
		if got := b.(*Backend).Threads(); got != c.want {
			t.Errorf("Open(native, Threads %d): Threads() = %d, want %d", c.threads, got, c.want)
		}
	}
}

func BenchmarkKernels(b *testing.B) { backendtest.Bench(b, New(Options{})) }

func BenchmarkKernelsPureGo(b *testing.B) { backendtest.Bench(b, New(Options{PureGo: true})) }
