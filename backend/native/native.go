// Package native is the WRX compute backend written for speed: float32
// kernels in Go, with hand-written SIMD assembly for the hot loops where the
// CPU supports it (AVX2+FMA on amd64, NEON on arm64). The pure-Go kernels are
// always compiled in and stay the reference: Options.PureGo selects them at
// run time, and the purego build tag compiles nothing else.
//
// Importing the package registers it as "native":
//
//	import _ "github.com/wrxlabs/wrx/backend/native"
//
// Aliasing: in MatMulT, out must not overlap a or w (a and w may overlap each
// other, since they are only read). The in-place kernels read and write x;
// their other arguments (bias, gamma, beta) must not overlap x.
//
// Determinism: MatMulT splits work across goroutines only over blocks of
// output elements, never over K, and the blocking never depends on the thread
// count, so results are bit-identical whatever Options.Threads is.
package native

import (
	"fmt"
	"runtime"

	"github.com/wrxlabs/wrx/backend"
)

func init() {
	backend.Register("native", func() backend.Backend { return New(Options{}) })
}

// Options configures a Backend. The zero value uses every CPU and the
// fastest kernels the CPU supports.
type Options struct {
	// Threads is how many goroutines a large kernel call may use; 0 means
	// runtime.GOMAXPROCS(0).
	Threads int
	// PureGo forces the portable Go kernels even when SIMD assembly is
	// available, e.g. to compare the two paths.
	PureGo bool
}

// Backend implements backend.Backend. One value may be shared by any number
// of goroutines. Its helper goroutines start on first use and exit after a
// few idle seconds.
type Backend struct {
	pool    pool
	threads int
	ks      *kernelSet // nil: the pure-Go kernels
}

var _ backend.Backend = (*Backend)(nil)

// New returns a Backend configured by opts.
func New(opts Options) *Backend {
	t := opts.Threads
	if t <= 0 {
		t = runtime.GOMAXPROCS(0)
	}
	b := &Backend{threads: t}
	if sets := simdKernelSets(); !opts.PureGo && len(sets) > 0 {
		b.ks = sets[0]
	}
	return b
}

// Name implements backend.Backend.
func (b *Backend) Name() string { return "native" }

// Threads reports how many goroutines large kernel calls may use.
func (b *Backend) Threads() int { return b.threads }

// Kernels names the instruction set of the GEMM kernels in use: "avx512",
// "avx2", "neon", or "go" for the pure-Go path.
func (b *Backend) Kernels() string {
	if b.ks == nil {
		return "go"
	}
	return b.ks.name
}

// checkLen panics with a message naming the kernel and argument when a slice
// is shorter than the shape requires, instead of a bare index error deep in
// a loop (or, worse, assembly reading past the end).
func checkLen(kernel, arg string, s []float32, need int) {
	if need < 0 || len(s) < need {
		panic(fmt.Sprintf("native.%s: %s has %d elements, shape needs %d", kernel, arg, len(s), need))
	}
}

func checkDims(kernel string, dims ...int) {
	for _, d := range dims {
		if d < 0 {
			panic(fmt.Sprintf("native.%s: negative dimension in %v", kernel, dims))
		}
	}
}
