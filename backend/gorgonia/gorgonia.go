// Package gorgonia implements backend.Backend on gorgonia.org/tensor, so
// that WRX can be checked against, and benchmarked next to, an established
// Go tensor library. Importing the package registers it as "gorgonia":
//
//	import _ "github.com/wrxlabs/wrx/backend/gorgonia"
//	b, err := backend.Open("gorgonia", backend.Config{})
//
// It cannot honour backend.Config.Threads, and Open fails when it is set:
// tensor multiplies with gonum's BLAS, whose Sgemm sizes its pool of
// workers from runtime.GOMAXPROCS, a setting of the whole process, and the
// only way to swap that BLAS (tensor.Use) is global too.
//
// Every kernel wraps the caller's slices as tensor.Dense values without
// copying (tensor.WithBacking) and runs tensor operations on them in place
// (tensor.UseUnsafe, tensor.WithReuse):
//
//   - MatMulT is tensor.MatMul of a by a transposed view w.T(), which tensor
//     hands to its BLAS (gonum's Sgemm) as a transposed operand, so w is
//     never copied. Accumulation uses tensor.WithIncr.
//   - AddBias, Softmax and LayerNorm are composed of whole-tensor operations:
//     row reductions (Dense.Max, Dense.Sum along axis 1), tensor.RepeatReuse
//     to broadcast a row or column vector, and Add/Sub/Mul/Div/Exp/Square/
//     InvSqrt. tensor has no broadcasting arithmetic, hence RepeatReuse.
//   - Tanh is tensor.Tanh and ReLU is tensor.Clamp(x, 0, +Inf).
//   - GELU is composed of tensor.Mul and tensor.Add around erf, which tensor
//     lacks: erf is applied with Dense.Apply (tensor's Map) and
//     math32.Erf. This is the only kernel with a fallback function.
//
// tensor.SoftMax is deliberately not used: in v0.9.24 its float32 path
// starts every row's maximum from the first element of the whole tensor
// rather than of the row, which overflows or divides by zero when rows
// differ in scale (a masked row next to an ordinary one), and it starts
// one goroutine per row.
//
// Scratch space for broadcasts and accumulation comes from a sync.Pool, so
// a Backend allocates only small tensor headers and row reductions per
// call, and is safe for concurrent use.
package gorgonia

import (
	"fmt"
	"math"
	"sync"

	"github.com/chewxy/math32"
	"gorgonia.org/tensor"

	"github.com/wrxlabs/wrx/backend"
)

func init() {
	backend.Register("gorgonia", open)
}

// open is the registry's factory. It rejects every non-zero Config field,
// since none can be honoured per Backend (see the package comment).
func open(cfg backend.Config) (backend.Backend, error) {
	if cfg.Threads != 0 {
		return nil, fmt.Errorf("Config.Threads = %d is not supported: gonum's BLAS, which gorgonia.org/tensor multiplies with, sizes its worker pool from GOMAXPROCS for the whole process; leave Threads 0", cfg.Threads)
	}
	return New(), nil
}

// Backend implements backend.Backend on gorgonia.org/tensor. The zero value
// is ready to use; it is safe for concurrent use and must not be copied
// after first use.
type Backend struct {
	scratch sync.Pool // of *[]float32
}

var _ backend.Backend = (*Backend)(nil)

// New returns a Backend.
func New() *Backend { return &Backend{} }

// Name implements backend.Backend.
func (*Backend) Name() string { return "gorgonia" }

// dense wraps x, which must hold exactly the product of shape elements, as
// a row-major tensor without copying.
func dense(x []float32, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x))
}

// release returns tensor headers to tensor's pool. It never frees the
// backing data, which ReturnTensor only forgets.
func release(ts ...*tensor.Dense) {
	for _, t := range ts {
		tensor.ReturnTensor(t)
	}
}

// must turns a tensor error into a panic: the Backend contract reports
// shape mistakes by panicking, and with shapes already checked by slicing,
// any other error is a bug.
func must(op string, err error) {
	if err != nil {
		panic(fmt.Errorf("gorgonia backend: %s: %w", op, err))
	}
}

// getScratch returns a pooled buffer of n elements; putScratch gives it
// back.
func (b *Backend) getScratch(n int) (*[]float32, []float32) {
	p, _ := b.scratch.Get().(*[]float32)
	if p == nil {
		p = new([]float32)
	}
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	return p, (*p)[:n]
}

func (b *Backend) putScratch(p *[]float32) { b.scratch.Put(p) }

// MatMulT implements backend.Backend with tensor.MatMul against a
// transposed view of w.
func (b *Backend) MatMulT(out, a, w []float32, m, k, n int, accumulate bool) {
	if m == 0 || n == 0 {
		return
	}
	out = out[:m*n]
	if k == 0 { // tensor rejects empty shapes; the product is all zeros
		if !accumulate {
			clear(out)
		}
		return
	}
	at, wt, ot := dense(a[:m*k], m, k), dense(w[:n*k], n, k), dense(out, m, n)
	defer release(at, wt, ot)
	must("transposing w", wt.T())
	if !accumulate {
		_, err := tensor.MatMul(at, wt, tensor.WithReuse(ot))
		must("MatMul", err)
		return
	}
	// tensor's Sgemm call always has beta = 0, so accumulation goes through
	// a scratch product that WithIncr adds to out.
	p, buf := b.getScratch(m * n)
	defer b.putScratch(p)
	st := dense(buf, m, n)
	defer release(st)
	_, err := tensor.MatMul(at, wt, tensor.WithReuse(st), tensor.WithIncr(ot))
	must("MatMul with increment", err)
}

// broadcast fills st (rows×cols) with v repeated along axis: v is 1×cols
// for axis 0 and rows×1 for axis 1. It reshapes v.
func broadcast(st, v *tensor.Dense, rows, cols, axis int) {
	// RepeatReuse with a repeat count of 1 leaves all but the first element
	// of st unset, so a single copy is made by hand.
	if (axis == 0 && rows == 1) || (axis == 1 && cols == 1) {
		copy(st.Data().([]float32), v.Data().([]float32))
		return
	}
	if axis == 0 {
		must("reshaping a row vector", v.Reshape(1, cols))
		_, err := tensor.RepeatReuse(v, st, 0, rows)
		must("repeating a row vector", err)
		return
	}
	must("reshaping a column vector", v.Reshape(rows, 1))
	_, err := tensor.RepeatReuse(v, st, 1, cols)
	must("repeating a column vector", err)
}

// AddBias implements backend.Backend: x += bias repeated over rows.
func (b *Backend) AddBias(x, bias []float32, rows, cols int) {
	if rows == 0 || cols == 0 {
		return
	}
	p, buf := b.getScratch(rows * cols)
	defer b.putScratch(p)
	xt, bt, st := dense(x[:rows*cols], rows, cols), dense(bias[:cols], cols), dense(buf, rows, cols)
	defer release(xt, bt, st)
	broadcast(st, bt, rows, cols, 0)
	_, err := tensor.Add(xt, st, tensor.UseUnsafe())
	must("Add", err)
}

// GELU implements backend.Backend as 0.5·x·(1+erf(x/√2)), with erf mapped
// over the tensor because tensor has no erf operation.
func (b *Backend) GELU(x []float32) {
	if len(x) == 0 {
		return
	}
	p, buf := b.getScratch(len(x))
	defer b.putScratch(p)
	xt, st := dense(x, len(x)), dense(buf, len(x))
	defer release(xt, st)
	_, err := tensor.Mul(xt, float32(1/math.Sqrt2), tensor.WithReuse(st))
	must("Mul", err)
	_, err = st.Apply(math32.Erf, tensor.UseUnsafe())
	must("Apply(erf)", err)
	_, err = tensor.Add(st, float32(1), tensor.UseUnsafe())
	must("Add", err)
	_, err = tensor.Mul(st, float32(0.5), tensor.UseUnsafe())
	must("Mul", err)
	_, err = tensor.Mul(xt, st, tensor.UseUnsafe())
	must("Mul", err)
}

// Tanh implements backend.Backend with tensor.Tanh.
func (b *Backend) Tanh(x []float32) {
	if len(x) == 0 {
		return
	}
	xt := dense(x, len(x))
	defer release(xt)
	_, err := tensor.Tanh(xt, tensor.UseUnsafe())
	must("Tanh", err)
}

// ReLU implements backend.Backend with tensor.Clamp to [0, +Inf].
func (b *Backend) ReLU(x []float32) {
	if len(x) == 0 {
		return
	}
	xt := dense(x, len(x))
	defer release(xt)
	_, err := tensor.Clamp(xt, float32(0), float32(math.Inf(1)), tensor.UseUnsafe())
	must("Clamp", err)
}

// Softmax implements backend.Backend: subtract each row's maximum, so that
// exp cannot overflow, exponentiate, and divide by each row's sum.
func (b *Backend) Softmax(x []float32, rows, cols int) {
	if rows == 0 || cols == 0 {
		return
	}
	p, buf := b.getScratch(rows * cols)
	defer b.putScratch(p)
	xt, st := dense(x[:rows*cols], rows, cols), dense(buf, rows, cols)
	defer release(xt, st)

	mx, err := xt.Max(1)
	must("Max along rows", err)
	broadcast(st, mx, rows, cols, 1)
	release(mx)
	_, err = tensor.Sub(xt, st, tensor.UseUnsafe())
	must("Sub", err)
	// math32.Exp on arm64 (behind tensor.Exp) returns NaN or garbage for
	// inputs between about -104 and -200 instead of underflowing to 0.
	// Below expFloor every exp is under float32's smallest normal, far
	// below the row maximum's exp(0) = 1, so clamping changes no result.
	_, err = tensor.Clamp(xt, float32(expFloor), float32(0), tensor.UseUnsafe())
	must("Clamp", err)
	_, err = tensor.Exp(xt, tensor.UseUnsafe())
	must("Exp", err)
	sum, err := xt.Sum(1)
	must("Sum along rows", err)
	broadcast(st, sum, rows, cols, 1)
	release(sum)
	_, err = tensor.Div(xt, st, tensor.UseUnsafe())
	must("Div", err)
}

// expFloor is where Softmax clamps its shifted inputs: exp(-87.3) is about
// float32's smallest normal number.
const expFloor = -87.3

// LayerNorm implements backend.Backend in two passes: the mean is
// subtracted before the variance is summed, which keeps rows with a large
// common offset accurate in float32.
func (b *Backend) LayerNorm(x, gamma, beta []float32, rows, cols int, eps float32) {
	if rows == 0 || cols == 0 {
		return
	}
	p, buf := b.getScratch(rows * cols)
	defer b.putScratch(p)
	xt, st := dense(x[:rows*cols], rows, cols), dense(buf, rows, cols)
	gt, bt := dense(gamma[:cols], cols), dense(beta[:cols], cols)
	defer release(xt, st, gt, bt)
	invCols := 1 / float32(cols)

	mean, err := xt.Sum(1)
	must("Sum along rows", err)
	_, err = tensor.Mul(mean, invCols, tensor.UseUnsafe())
	must("Mul", err)
	broadcast(st, mean, rows, cols, 1)
	release(mean)
	_, err = tensor.Sub(xt, st, tensor.UseUnsafe())
	must("Sub", err)

	_, err = tensor.Square(xt, tensor.WithReuse(st))
	must("Square", err)
	inv, err := st.Sum(1)
	must("Sum along rows", err)
	_, err = tensor.Mul(inv, invCols, tensor.UseUnsafe())
	must("Mul", err)
	_, err = tensor.Add(inv, eps, tensor.UseUnsafe())
	must("Add", err)
	_, err = tensor.InvSqrt(inv, tensor.UseUnsafe())
	must("InvSqrt", err)
	broadcast(st, inv, rows, cols, 1)
	release(inv)
	_, err = tensor.Mul(xt, st, tensor.UseUnsafe())
	must("Mul", err)

	broadcast(st, gt, rows, cols, 0)
	_, err = tensor.Mul(xt, st, tensor.UseUnsafe())
	must("Mul", err)
	broadcast(st, bt, rows, cols, 0)
	_, err = tensor.Add(xt, st, tensor.UseUnsafe())
	must("Add", err)
}
