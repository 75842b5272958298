// Package gemm measures the matrix-multiply throughput (GFLOP/s) of WRX
// backends at the shapes of BERT-small and BERT-base layers, for the
// `wrx bench gemm` command and scripts/bench-gemm-openblas.sh.
//
// Every measurement multiplies out[M×N] = a[M×K]·w[N×K]ᵀ (backend.MatMulT)
// on random data, repeats it in rounds of at least Options.RoundTime, and
// reports the best round: the figure least disturbed by other work on the
// machine. scripts/bench-gemm-openblas.sh times numpy/OpenBLAS the same way.
// The int8 variants (NativeInt8) multiply the same float32 activations by
// the weights quantized to int8 beforehand (native.MatMulInt8); their
// figure is 2·M·K·N integer operations per second, GOPS, comparable with
// the float32 GFLOP/s. NativeInt4 does the same with 4-bit dictionary
// weights (native.MatMulInt4). NativePacked multiplies float32 weights
// packed beforehand (native.MatMulPacked).
package gemm

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/wrxlabs/wrx/backend"
	// Registered so that Options.Backends may name it.
	_ "github.com/wrxlabs/wrx/backend/gorgonia"
	"github.com/wrxlabs/wrx/backend/native"
)

// Backend names Run understands besides the registry's: the native backend
// with its SIMD kernels, and with its pure-Go kernels forced.
const (
	NativeSIMD   = "native"
	NativePureGo = "native-purego"
	// NativeInt8 is the native backend's integer product (MatMulInt8:
	// int8 weights, activations quantized per row on the fly, which is
	// timed too) with its fastest int8 kernels; NativeInt8 + "-" + a name
	// of native.Int8KernelNames selects those kernels.
	NativeInt8 = "native-int8"
	// NativeInt4 is the native backend's 4-bit product (MatMulInt4: the
	// weights coded against 16 centroids, activations quantized per row
	// on the fly) with its fastest kernels. Suffixes select the path,
	// "-registers" or "-scratch" (native.Options.Int4Path), and the int8
	// kernels, "-" + a name of native.Int8KernelNames, in that order:
	// "native-int4-scratch-avx512vnni".
	NativeInt4 = "native-int4"
	// NativePacked is the native backend's product of weights packed
	// beforehand (backend.Pack, native.MatMulPacked), as a model held in
	// memory multiplies them.
	NativePacked = "native-packed"
)

// DefaultBackends are measured when Options.Backends is empty.
var DefaultBackends = []string{NativeSIMD, NativePureGo, "gorgonia"}

// DefaultM are the row counts (tokens per call) measured by default.
var DefaultM = []int{1, 8, 32, 128}

// DefaultKN are the (K, N) weight shapes measured by default: the
// attention, FFN-in and FFN-out projections of BERT-small (hidden 384) and
// BERT-base (hidden 768).
var DefaultKN = [][2]int{{384, 384}, {384, 1536}, {1536, 384}, {768, 768}, {768, 3072}, {3072, 768}}

// Options selects what Run measures. The zero value measures
// DefaultBackends at DefaultM × DefaultKN with every CPU.
type Options struct {
	// Backends to measure, by name; see NativeSIMD and NativePureGo.
	Backends []string
	// M and KN are the shapes; every M is combined with every (K, N).
	M  []int
	KN [][2]int
	// Threads for the native backend; 0 means GOMAXPROCS. Other backends
	// use their own defaults.
	Threads int
	// RoundTime is the least duration of one timed round (default 25ms).
	RoundTime time.Duration
	// Rounds per shape; the best is reported (default 5).
	Rounds int
}

// Result is the throughput of one backend at one shape.
type Result struct {
	Backend string `json:"backend"`
	M       int    `json:"m"`
	K       int    `json:"k"`
	N       int    `json:"n"`
	// GFLOPS is 2·M·K·N per second, in billions: floating-point
	// operations, or integer ones for NativeInt8.
	GFLOPS float64 `json:"gflops"`
}

// Run measures every backend of opts at every shape, in that order. It
// stops early, returning what it measured so far and ctx's error, when ctx
// is cancelled.
func Run(ctx context.Context, opts Options) ([]Result, error) {
	names := opts.Backends
	if len(names) == 0 {
		names = DefaultBackends
	}
	ms, kns := opts.M, opts.KN
	if len(ms) == 0 {
		ms = DefaultM
	}
	if len(kns) == 0 {
		kns = DefaultKN
	}
	round := opts.RoundTime
	if round <= 0 {
		round = 25 * time.Millisecond
	}
	rounds := opts.Rounds
	if rounds <= 0 {
		rounds = 5
	}
	bes := make([]backend.Backend, len(names))
	for i, name := range names {
		b, err := newBackend(name, opts.Threads)
		if err != nil {
			return nil, err
		}
		bes[i] = b
	}
	for _, m := range ms {
		for _, kn := range kns {
			if m <= 0 || kn[0] <= 0 || kn[1] <= 0 {
				return nil, fmt.Errorf("gemm bench: shape m=%d k=%d n=%d is not positive", m, kn[0], kn[1])
			}
		}
	}
	var res []Result
	r := rand.New(rand.NewPCG(1, 2))
	for i, b := range bes {
		for _, m := range ms {
			for _, kn := range kns {
				k, n := kn[0], kn[1]
				g, err := measure(ctx, b, r, m, k, n, round, rounds)
				if err != nil {
					return res, err
				}
				res = append(res, Result{Backend: names[i], M: m, K: k, N: n, GFLOPS: g})
			}
		}
	}
	return res, nil
}

func newBackend(name string, threads int) (backend.Backend, error) {
	switch name {
	case NativeSIMD:
		return native.New(native.Options{Threads: threads}), nil
	case NativePureGo:
		return native.New(native.Options{Threads: threads, PureGo: true}), nil
	case NativeInt8:
		return int8Backend{native.New(native.Options{Threads: threads})}, nil
	case NativePacked:
		return packedBackend{native.New(native.Options{Threads: threads})}, nil
	}
	if rest, ok := strings.CutPrefix(name, NativeInt4); ok && (rest == "" || rest[0] == '-') {
		var o native.Options
		o.Threads = threads
		rest = strings.TrimPrefix(rest, "-")
		for _, p := range []string{"registers", "scratch"} {
			if r, ok := strings.CutPrefix(rest, p); ok && (r == "" || r[0] == '-') {
				o.Int4Path, rest = p, strings.TrimPrefix(r, "-")
			}
		}
		if rest != "" {
			if !slices.Contains(native.Int8KernelNames(), rest) {
				return nil, fmt.Errorf("gemm bench: %s: int8 kernels %q not available here (have %v)", name, rest, native.Int8KernelNames())
			}
			o.Int8Kernels = rest
		}
		var b *native.Backend
		if err := func() (err error) {
			// New panics on a path the kernels cannot take.
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("gemm bench: %s: %v", name, r)
				}
			}()
			b = native.New(o)
			return nil
		}(); err != nil {
			return nil, err
		}
		return int4Backend{b}, nil
	}
	if k, ok := strings.CutPrefix(name, NativeInt8+"-"); ok {
		if !slices.Contains(native.Int8KernelNames(), k) {
			return nil, fmt.Errorf("gemm bench: %s: int8 kernels %q not available here (have %v)", name, k, native.Int8KernelNames())
		}
		return int8Backend{native.New(native.Options{Threads: threads, Int8Kernels: k})}, nil
	}
	b, err := backend.Get(name)
	if err != nil {
		return nil, fmt.Errorf("gemm bench: %w", err)
	}
	return b, nil
}

// int8Backend marks a native backend measured on its integer product.
type int8Backend struct{ *native.Backend }

// int4Backend marks a native backend measured on its 4-bit product.
type int4Backend struct{ *native.Backend }

// packedBackend marks a native backend measured on its packed product.
type packedBackend struct{ *native.Backend }

// int4Of codes w (n×k) against 16 centroids evenly spaced over ±2 standard
// deviations, the nearest for each weight, with the weights beyond 3.5
// deviations kept as outliers, as quant's 4-bit codec would.
func int4Of(w []float32, n, k int) (*backend.Int4, error) {
	var ss float64
	for _, v := range w {
		ss += float64(v) * float64(v)
	}
	sd := math.Sqrt(ss / float64(max(len(w), 1)))
	var c [16]float32
	for j := range c {
		c[j] = float32((float64(j)/15*4 - 2) * sd)
	}
	q, err := backend.NewInt4(nil, n, k, &c)
	if err != nil {
		return nil, err
	}
	for j := range n {
		for p := range k {
			v := float64(w[j*k+p])
			code := int(math.Round((v/sd + 2) * 15 / 4))
			q.SetCode(j, p, byte(max(0, min(15, code))))
			if math.Abs(v) > 3.5*sd {
				q.Outliers = append(q.Outliers, backend.Int4Outlier{Row: int32(j), Col: int32(p), Value: float32(v)})
			}
		}
	}
	return q, q.Finish()
}

// measure returns the best GFLOP/s of rounds timed rounds of MatMulT (of
// MatMulInt8 for an int8Backend, MatMulPacked for a packedBackend).
func measure(ctx context.Context, b backend.Backend, r *rand.Rand, m, k, n int, round time.Duration, rounds int) (float64, error) {
	a, w, out := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
	mul := func() { b.MatMulT(out, a, w, m, k, n, false) }
	if ib, ok := b.(int8Backend); ok {
		q, err := backend.QuantizeInt8(w, n, k)
		if err != nil {
			return 0, err
		}
		mul = func() { ib.MatMulInt8(out, a, m, q, false) }
	}
	if pb, ok := b.(packedBackend); ok {
		p := backend.Pack(&backend.Dense{N: n, K: k, Data: slices.Clone(w)})
		mul = func() { pb.MatMulPacked(out, a, m, p, false) }
	}
	if ib, ok := b.(int4Backend); ok {
		q, err := int4Of(w, n, k)
		if err != nil {
			return 0, err
		}
		mul = func() { ib.MatMulInt4(out, a, m, q, false) }
	}
	// One call warms caches and page tables, and sizes a round.
	start := time.Now()
	mul()
	per := max(time.Since(start), time.Microsecond)
	iters := max(1, int(round/per))
	best := time.Duration(1<<63 - 1)
	for range rounds {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("gemm bench %s m=%d k=%d n=%d: %w", b.Name(), m, k, n, err)
		}
		start := time.Now()
		for range iters {
			mul()
		}
		el := time.Since(start)
		best = min(best, el/time.Duration(iters))
		if el < round/2 {
			// The warm-up call was slow (cold caches): size rounds again.
			iters = max(iters+1, int(float64(iters)*float64(round)/float64(max(el, time.Microsecond))))
		}
	}
	return 2 * float64(m) * float64(k) * float64(n) / best.Seconds() / 1e9, nil
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}
