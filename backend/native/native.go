// Package native is the WRX compute backend written for speed: float32
// kernels with hand-written SIMD assembly where the CPU supports it
// (AVX-512 or AVX2+FMA on amd64, NEON on arm64), chosen at run time with
// golang.org/x/sys/cpu. The pure-Go kernels are always compiled in and stay
// the reference (float64 softmax, layer norm and erf): Options.PureGo
// selects them, and the purego build tag compiles nothing else.
//
// Importing the package registers it as "native", honouring
// backend.Config.Threads:
//
//	import _ "github.com/wrxlabs/wrx/backend/native"
//	b, err := backend.Open("native", backend.Config{Threads: 2})
//
// New builds one directly, with the options only native has (PureGo) and
// methods beyond backend.Backend (Threads, Kernels).
//
// # Matrix multiply
//
// out = a·wᵀ with w row-major [N×K] means every output is the dot product
// of two rows that are both contiguous in K. The micro-kernels (generated
// by internal/asmgen) therefore need no packing: an r×c tile (up to 6×4
// with AVX-512 and NEON, 3×4 with AVX2) keeps r·c vector accumulators of
// partial sums along K, loads r rows of a and c rows of w once per vector
// step, and reduces each accumulator with a fixed addition tree at the end.
// K is cut into blocks of at most 1024, sized from K alone, so the rows of
// a a tile streams stay in L1; blocks of w rows sized for L2 are streamed
// past every row tile of a.
//
// Weights known ahead of time can be held packed instead
// (backend.Packed, MatMulPacked; packed.go): panels of 16 outputs, K-major
// inside a panel, multiplied by broadcast ("outer product") kernels that
// keep an 8-row, 3-panel (8×48) tile of out in registers with no
// horizontal sum, walk a group of panels past every row tile of a, and
// prefetch the next group into L2 meanwhile, so that weights streamed from
// memory overlap the arithmetic (AVX-512; 6×16 tiles with AVX2; the
// pure-Go kernel elsewhere, where PacksFloat32 is false).
//
// Determinism: every output element is computed by the same sequence of
// operations whichever kernel, tile or goroutine computes it, and work is
// split across goroutines only over output rows or columns, never over K,
// so results are bit-identical for every Options.Threads.
//
// The packed product is deterministic in the same way (one FMA chain per
// output over k, whatever the tile or thread count), but sums in another
// order than MatMulT, so the two differ by float32 rounding.
//
// # Integer matrix multiply
//
// Backend also implements backend.Int8Multiplier: int8 weights in
// backend.Int8's panel layout times activations quantized per row to 8
// bits on the fly, summed exactly in int32 and rescaled once per output
// (int8.go). The kernels (AMX TDPBUSD where Linux grants the tile state,
// AVX-512 VNNI VPDPBUSD, AVX2 by widening to int16, NEON SDOT or widening
// multiplies without the dot-product extension, and pure Go) are chosen at
// run time independently of the float32 ones (Int8Kernels,
// Options.Int8Kernels), and all give bit-identical results.
//
// It implements backend.Int4Multiplier the same way (int4.go): 4-bit
// dictionary codes, their centroids on an int8 grid, expanded to int8
// either inside the AVX-512 multiply loop (a VPERMB or VPSHUFB table
// lookup per 64 weights; few rows) or a block of panels at a time into an
// L1-sized scratch that the int8 kernels, AMX included, then multiply
// (Int4Kernels, Options.Int4Path). Both sum the integers of the equivalent
// Int8 matrix and share the int8 epilogue, so they agree bit for bit with
// MatMulInt8 of that matrix.
//
// Both also take activations quantized once for several products
// (backend.ActivationQuantizer: QuantizeActivations, then
// MatMulInt8Quantized or MatMulInt4Quantized), with the same quantization
// and kernels, so bit for bit the one-call products' results.
//
// Elementwise kernels use float32 formulas (elem32.go): a Cephes-style exp
// and the erf of Abramowitz & Stegun 7.1.26, with errors below 3e-7.
//
// # Aliasing
//
// In MatMulT, out must not overlap a or w; a and w are only read and may
// overlap each other (a·aᵀ is fine). The in-place kernels read and write x;
// their other arguments (bias, gamma, beta) must not overlap x.
package native

import (
	"fmt"
	"runtime"
	"slices"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/internal/freelist"
)

func init() {
	backend.Register("native", open)
}

// open is the registry's factory: every backend.Config field maps onto
// Options.
func open(cfg backend.Config) (backend.Backend, error) {
	return New(Options{Threads: cfg.Threads}), nil
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
	// Int8Kernels selects the int8 kernels by name, one of
	// Int8KernelNames (e.g. to compare them); "" means the fastest.
	// New panics on a name this CPU does not run.
	Int8Kernels string
	// Int4Path chooses how 4-bit products (MatMulInt4) run: "" picks per
	// call (see int4InRegisters), "registers" always expands codes in the
	// multiply loop, "scratch" always through scratch and the int8
	// kernels (e.g. to compare them). New panics on "registers" where the
	// int8 kernels have no in-register 4-bit kernels, and on other names.
	Int4Path string
}

// Int8KernelNames lists the int8 kernel families this CPU runs, fastest
// first, ending with "go".
func Int8KernelNames() []string {
	var names []string
	for _, s := range int8KernelSets() {
		names = append(names, s.name)
	}
	return append(names, goInt8.name)
}

// Backend implements backend.Backend. One value may be shared by any number
// of goroutines. Its helper goroutines start on first use and exit after a
// few idle seconds.
type Backend struct {
	pool    pool
	threads int
	ks      *kernelSet       // nil: the pure-Go kernels
	qs      *int8KernelSet   // nil: the pure-Go int8 kernels
	ps      *packedKernelSet // nil: the pure-Go packed kernel
	scratch freelist.List[*int8Scratch]
}

var _ backend.Backend = (*Backend)(nil)

// New returns a Backend configured by opts.
func New(opts Options) *Backend {
	t := opts.Threads
	if t <= 0 {
		t = runtime.GOMAXPROCS(0)
	}
	b := &Backend{threads: t}
	// A call and each of its workers take one; a freelist, unlike a
	// sync.Pool, keeps them across collections, which a program that
	// bounds its heap runs often (every request, when each re-allocated
	// its scratch: 139 KB a request at 4 bits).
	b.scratch.Max = 2*t + 2
	if sets := simdKernelSets(); !opts.PureGo && len(sets) > 0 {
		b.ks = sets[0]
	}
	if sets := int8KernelSets(); !opts.PureGo && len(sets) > 0 {
		b.qs = sets[0]
	}
	if sets := packedKernelSets(); !opts.PureGo && len(sets) > 0 {
		b.ps = sets[0]
	}
	if name := opts.Int8Kernels; name != "" {
		b.qs = nil
		for _, s := range int8KernelSets() {
			if s.name == name {
				b.qs = s
			}
		}
		if b.qs == nil && name != goInt8.name {
			panic(fmt.Sprintf("native.New: int8 kernels %q not available here (have %v)", name, Int8KernelNames()))
		}
	}
	if p := opts.Int4Path; p != "" {
		qs := *b.int8Set()
		switch p {
		case "registers":
			if qs.kern4 == nil {
				panic(fmt.Sprintf("native.New: Int4Path %q: the %s int8 kernels have no in-register 4-bit kernels", p, qs.name))
			}
			qs.int4Mode = int4Registers
		case "scratch":
			qs.int4Mode = int4Scratch
		default:
			panic(fmt.Sprintf("native.New: Int4Path %q: want \"\", \"registers\" or \"scratch\"", p))
		}
		b.qs = &qs
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
			// A copy: were dims itself formatted, every call would
			// allocate it on the heap.
			panicDims(kernel, slices.Clone(dims))
		}
	}
}

func panicDims(kernel string, dims []int) {
	panic(fmt.Sprintf("native.%s: negative dimension in %v", kernel, dims))
}
