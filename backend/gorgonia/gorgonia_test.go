package gorgonia_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/backend/backendtest"
	"github.com/wrxlabs/wrx/backend/gorgonia"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, gorgonia.New())
}

func TestZeroValueIsUsable(t *testing.T) {
	var b gorgonia.Backend
	out := []float32{10, 20}
	// [1 2]·[[3 4] [5 -6]]ᵀ = [11 -7], added to out.
	b.MatMulT(out, []float32{1, 2}, []float32{3, 4, 5, -6}, 1, 2, 2, true)
	if d := cmp.Diff([]float32{21, 13}, out); d != "" {
		t.Errorf("out (-want +got):\n%s", d)
	}
}

// Empty dimensions are not part of the conformance suite, but tensor
// rejects empty shapes, so the backend handles them itself.
func TestEmptyDimensions(t *testing.T) {
	b := gorgonia.New()
	tests := []struct {
		name       string
		m, k, n    int
		accumulate bool
		out, want  []float32
	}{
		{"k=0 overwrites with zeros", 2, 0, 2, false, []float32{1, 2, 3, 4, 5}, []float32{0, 0, 0, 0, 5}},
		{"k=0 accumulates nothing", 2, 0, 2, true, []float32{1, 2, 3, 4, 5}, []float32{1, 2, 3, 4, 5}},
		{"m=0 writes nothing", 0, 3, 2, false, []float32{1, 2}, []float32{1, 2}},
		{"n=0 writes nothing", 2, 3, 0, false, []float32{1, 2}, []float32{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := make([]float32, tc.m*tc.k)
			w := make([]float32, tc.n*tc.k)
			b.MatMulT(tc.out, a, w, tc.m, tc.k, tc.n, tc.accumulate)
			if d := cmp.Diff(tc.want, tc.out); d != "" {
				t.Errorf("out (-want +got):\n%s", d)
			}
		})
	}
	// Row-wise kernels with no rows or no columns must not touch x.
	x := []float32{-1, 2}
	b.AddBias(x, nil, 0, 2)
	b.Softmax(x, 2, 0)
	b.LayerNorm(x, nil, nil, 0, 2, 1e-12)
	b.GELU(x[:0])
	b.Tanh(x[:0])
	b.ReLU(x[:0])
	if d := cmp.Diff([]float32{-1, 2}, x); d != "" {
		t.Errorf("x changed (-want +got):\n%s", d)
	}
}

// TestOpenThreads checks that the registry opens gorgonia with the zero
// Config and refuses a thread count it cannot honour, naming the backend
// and the field.
func TestOpenThreads(t *testing.T) {
	if b, err := backend.Open("gorgonia", backend.Config{}); err != nil || b.Name() != "gorgonia" {
		t.Fatalf("Open(gorgonia, Config{}) = %v, %v", b, err)
	}
	b, err := backend.Open("gorgonia", backend.Config{Threads: 2})
	if err == nil {
		t.Fatalf("Open(gorgonia, Threads 2) = %v, want an error", b)
	}
	for _, w := range []string{`"gorgonia"`, "Config.Threads"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %s", err, w)
		}
	}
}

func BenchmarkKernels(b *testing.B) {
	backendtest.Bench(b, gorgonia.New())
}

func Example() {
	b, err := backend.Open("gorgonia", backend.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Two tokens with three features through a linear layer with two
	// outputs, stored the Hugging Face way as 2 rows of 3 weights.
	a := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	w := []float32{
		1, 0, 0,
		0, 1, -1,
	}
	out := make([]float32, 2*2)
	b.MatMulT(out, a, w, 2, 3, 2, false)
	b.AddBias(out, []float32{0.5, 2}, 2, 2)
	b.ReLU(out)
	fmt.Println(b.Name(), out)
	// Output: gorgonia [1.5 1 4.5 1]
}
