package native

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/wrxlabs/wrx/backend"
)

// Integer GEMM (backend.Int8Multiplier). Each call quantizes the rows of a
// to 8 bits (quantRow), then multiplies them with the int8 panels of w
// tile by tile: r rows of a against c panels of 16 outputs. The
// backend.ActivationQuantizer methods split the two steps, so that
// products sharing their activations quantize them once: MatMulInt8 is
// QuantizeActivations into the call's scratch, then the product
// MatMulInt8Quantized makes (int8Product). Every kernel,
// Go or assembly, sums the products of a tile exactly in int32 and applies
// the same epilogue,
//
//	out = float32(float32(float32(Σ + corr[i]·Sum[j]) · Scale[j]) · s[i])
//
// (added to out when accumulating), so every kernel gives bit-identical
// results, whatever the tile shapes and thread count.
//
// The activations are stored in one of two forms: u8 (x, in [0, 255]) for
// kernels that multiply unsigned by signed bytes (AMX's TDPBUSD, AVX-512
// VNNI's VPDPBUSD, AVX2 after widening), with corr = −z; or s8 (x − 128) for kernels that
// multiply signed bytes (NEON SDOT), with corr = 128 − z. Both make
// Σ + corr·Sum equal Σₚ (x − z)·q.

// qKernel is the signature of every int8 micro-kernel. For t in [0,
// ntiles) it computes an r×(16c) tile of out: rows [0, r) of a against the
// panels [c·t, c·t+c) of w, over kp (a multiple of 16) columns, into
// out[i·ldo + 16c·t + j]. lda, ldp (bytes per panel) and ldo are byte
// strides. rs and rc point at the r rows' scales and corrections, cs and
// csum at the tile's first column's scale and sum (advanced by 16c per
// tile). flags bit 0 adds to out instead of storing.
type qKernel func(a *byte, lda int, w *int8, ldp int, kp int, out *float32, ldo int, ntiles int, flags int, rs *float32, rc *int32, cs *float32, csum *int32)

// int8KernelSet is one family of int8 kernels.
type int8KernelSet struct {
	name string
	// signed: the kernels read activations in the s8 form.
	signed bool
	// kern[r-1][c-1] computes r×c-panel tiles.
	kern [][]qKernel
	// minMax returns the least and greatest of x[:n], n > 0 and a
	// multiple of 16.
	minMax func(x *float32, n int) (lo, hi float32)
	// quant writes x = clamp(round(a·inv) + z, 0, 255) for n values, n a
	// multiple of 16, in the set's form (xor 0x80 when signed).
	quant func(dst *byte, a *float32, n int, inv float32, z int32)
	// amx, if set, are AMX kernels for K a multiple of 64 (kern serves
	// the other K).
	amx *[2][2]amxKernel
	// kern4[r-1][c-1], if set, are the 4-bit kernels that expand codes
	// in registers (see int4.go), named name4.
	kern4 [][]q4Kernel
	name4 string
	// unpack4, if set, expands n bytes of 4-bit codes (n a multiple of
	// 64) as backend.UnpackInt4 does; nil uses that.
	unpack4 func(dst *int8, src *byte, n int, tab *int8)
	// int4Mode forces a 4-bit path (Options.Int4Path).
	int4Mode int4Mode
}

// amxKernel is the signature of the AMX kernels: for t in [0, ntiles) an
// (r0+r1)×(16·pc) macro tile, pc fixed by the kernel, of rows [0, r0) and
// [16, 16+r1) of a (r1 = 0 for one block) against panels [pc·t, pc·t+pc),
// with the tile configuration cfg (64 bytes, see amxConfig) and 4 KiB of
// scratch c for the int32 tiles. The other arguments are qKernel's.
type amxKernel func(cfg *byte, a *byte, lda int, w *int8, ldp int, kp int, out *float32, ldo int, ntiles int, flags int, rs *float32, rc *int32, cs *float32, csum *int32, c *int32, r0 int, r1 int)

// amxConfig writes the AMX tile configuration (palette 1) for row blocks
// of r0 and r1 rows: C tiles tmm0..3 (block b, panel j in tmm(2b+j)), A
// tiles tmm4 and tmm5, B tiles tmm6 and tmm7, every row 64 bytes.
func amxConfig(cfg *[64]byte, r0, r1 int) {
	clear(cfg[:])
	cfg[0] = 1
	rows := [8]int{r0, r0, r1, r1, r0, r1, 16, 16}
	for t, r := range rows {
		if r == 0 {
			continue
		}
		cfg[16+2*t] = 64
		cfg[48+t] = byte(r)
	}
}

// goInt8 is the pure-Go int8 kernel set, the reference the others match
// bit for bit.
var goInt8 = &int8KernelSet{name: "go", kern: [][]qKernel{{qgemmGo}}, kern4: [][]q4Kernel{{q4gemmGo}}, name4: "go"}

// Int8Kernels names the instruction set of the int8 GEMM kernels in use:
// "amx", "avx512vnni", "avx2", "neondot", "neon", or "go".
func (b *Backend) Int8Kernels() string { return b.int8Set().name }

func (b *Backend) int8Set() *int8KernelSet {
	if b.qs == nil {
		return goInt8
	}
	return b.qs
}

var _ backend.Int8Multiplier = (*Backend)(nil)

// int8Scratch is the per-call buffer of quantized activations.
type int8Scratch struct {
	cfg  [64]byte
	c    []int32                 // 4 KiB of AMX tiles
	act  backend.Int8Activations // the call's activations, when it quantizes them
	tail []float32               // m×16 outputs of a partial last panel
	u    []int8                  // 4-bit codes expanded to int8 (MatMulInt4)
	view backend.Int8            // u viewed as an Int8 (MatMulInt4), kept here so it is not allocated
}

// MatMulInt8 implements backend.Int8Multiplier. out must not overlap a.
func (b *Backend) MatMulInt8(out, a []float32, m int, w *backend.Int8, acc bool) {
	if intProductIsEmpty("MatMulInt8", out, a, m, w.N, w.K, w.Check(), acc) {
		return
	}
	s := b.getScratch()
	defer b.putScratch(s)
	x := b.quantizeScratch(s, a, m, w.K)
	b.int8Product(out, x, w, acc, s)
}

var _ backend.ActivationQuantizer = (*Backend)(nil)

// QuantizeActivations implements backend.ActivationQuantizer: the rows
// are quantized as MatMulInt8 quantizes them, in the form of b's int8
// kernels.
func (b *Backend) QuantizeActivations(dst *backend.Int8Activations, a []float32, m, k int) {
	checkDims("QuantizeActivations", m, k)
	if k > backend.MaxInt8K {
		panic(fmt.Sprintf("native.QuantizeActivations: K = %d, over %d", k, backend.MaxInt8K))
	}
	checkLen("QuantizeActivations", "a", a, m*k)
	quantRows(b.int8Set(), dst, a[:m*k], m, k)
}

// MatMulInt8Quantized implements backend.ActivationQuantizer. out must
// not overlap x.A.
func (b *Backend) MatMulInt8Quantized(out []float32, x *backend.Int8Activations, w *backend.Int8, acc bool) {
	if quantizedProductIsEmpty("MatMulInt8Quantized", out, x, w.N, w.K, w.Check(), acc) {
		return
	}
	s := b.getScratch()
	defer b.putScratch(s)
	b.int8Product(out, b.usable(s, x), w, acc, s)
}

// int8Product multiplies the quantized rows x by w (see MatMulInt8), with
// s the calling goroutine's scratch.
func (b *Backend) int8Product(out []float32, x *backend.Int8Activations, w *backend.Int8, acc bool, s *int8Scratch) {
	ks := b.int8Set()
	m, n, k, kp := x.M, w.N, w.K, x.KP
	xq, rs, rc := x.X, x.Scale, x.Corr
	full, rem := n/backend.Int8Panel, n%backend.Int8Panel
	ldp := backend.Int8Panel * kp
	threads := b.threads
	if 2*m*n*k < 4*parallelMinFlops {
		threads = 1
	}
	cmax := len(ks.kern[0])
	if full > 0 {
		if threads > 1 {
			// Each worker needs a tile scratch of its own.
			b.pool.parallelFor(full, cmax, threads, func(p0, p1 int) {
				own := b.getScratch()
				int8Block(ks, out, n*4, 0, xq, kp, w, ldp, rs, rc, m, p0, p1, acc, own)
				b.putScratch(own)
			})
		} else {
			int8Block(ks, out, n*4, 0, xq, kp, w, ldp, rs, rc, m, 0, full, acc, s)
		}
	}
	if rem > 0 {
		// The last panel has fewer than 16 real outputs: compute it into
		// a 16-wide buffer and copy the real ones.
		if cap(s.tail) < m*backend.Int8Panel {
			s.tail = make([]float32, m*backend.Int8Panel)
		}
		t := s.tail[:m*backend.Int8Panel]
		j0 := full * backend.Int8Panel
		if acc {
			for i := range m {
				copy(t[i*16:i*16+rem], out[i*n+j0:i*n+n])
			}
		}
		int8Block(ks, t, 16*4, full, xq, kp, w, ldp, rs, rc, m, full, full+1, acc, s)
		for i := range m {
			copy(out[i*n+j0:i*n+n], t[i*16:i*16+rem])
		}
	}
}

// int8Block computes panels [p0, p1) of out for all m rows: out holds the
// outputs of panel p at column 16(p−q0) (ldo bytes per row).
func int8Block(ks *int8KernelSet, out []float32, ldo, q0 int, x []byte, kp int, w *backend.Int8, ldp int, rs []float32, rc []int32, m, p0, p1 int, acc bool, s *int8Scratch) {
	rm, cm := len(ks.kern), len(ks.kern[0])
	flags := 0
	if acc {
		flags = 1
	}
	if ks.amx != nil && kp%64 == 0 && m >= amxMinRows {
		amxBlock(ks, out, ldo, q0, x, kp, w, ldp, rs, rc, m, p0, p1, flags, s)
		return
	}
	// Panel blocks sized for L2: each block is streamed past every row
	// tile of the activations, which stay in L1.
	nb := max(cm, int8BlockBytes/ldp/cm*cm)
	panelTiles(m, rm, cm, nb, p0, p1, func(i, r, p, n, c int) {
		j := p * backend.Int8Panel
		ks.kern[r-1][c-1](&x[i*kp], kp, &w.Q[p*ldp], ldp, kp, &out[i*ldo/4+j-q0*backend.Int8Panel], ldo, n, flags,
			&rs[i], &rc[i], &w.Scale[j], &w.Sum[j])
	})
}

// panelTiles walks panels [p0, p1) in blocks of nb, and each block past
// every row tile of m rows (near-equal heights of at most rm,
// tileHeight), calling kernel for n panels from p in groups of c, c ≤ cm
// (the last group of a block is its remainder, one call of c panels), on
// rows [i, i+r).
func panelTiles(m, rm, cm, nb, p0, p1 int, kernel func(i, r, p, n, c int)) {
	tiles := (m + rm - 1) / rm
	for pb := p0; pb < p1; pb += nb {
		pe := min(pb+nb, p1)
		full := (pe - pb) / cm
		rem := (pe - pb) % cm
		var r int
		for t, i := 0, 0; i < m; t, i = t+1, i+r {
			r = tileHeight(m, tiles, t)
			if full > 0 {
				kernel(i, r, pb, full, cm)
			}
			if rem > 0 {
				kernel(i, r, pb+full*cm, 1, rem)
			}
		}
	}
}

// amxMinRows is the fewest activation rows the AMX kernels take: a tile
// op costs the same for 1 row as for 16, and below 3 rows the VNNI kernels
// measured faster (benchgemm, K×N = 384×1536, 1536×384, 768×768: AMX 200–220
// GOPS at 1 row and 385–440 at 2, VNNI 270–280 and 420–435; at 3 rows AMX
// 550–650, VNNI 510–535).
const amxMinRows = 3

// amxBlock is int8Block for the AMX kernels: macro tiles of up to 32 rows
// by 2 panels, the panels in blocks streamed past every 32 rows. s is the
// caller's scratch, or nil to use one of its own (each goroutine needs
// its own tile scratch).
func amxBlock(ks *int8KernelSet, out []float32, ldo, q0 int, x []byte, kp int, w *backend.Int8, ldp int, rs []float32, rc []int32, m, p0, p1, flags int, s *int8Scratch) {
	if s == nil {
		s = new(int8Scratch)
	}
	if len(s.c) < 1024 {
		s.c = make([]int32, 1024)
	}
	nb := max(2, int8BlockBytes/ldp/2*2)
	for pb := p0; pb < p1; pb += nb {
		pe := min(pb+nb, p1)
		pairs, rem := (pe-pb)/2, (pe-pb)%2
		for i := 0; i < m; i += 32 {
			r0 := min(16, m-i)
			r1 := min(16, m-i-r0)
			amxConfig(&s.cfg, r0, r1)
			rb := 1
			if r1 > 0 {
				rb = 2
			}
			ap := &x[i*kp]
			if pairs > 0 {
				j := pb * backend.Int8Panel
				ks.amx[rb-1][1](&s.cfg[0], ap, kp, &w.Q[pb*ldp], ldp, kp, &out[i*ldo/4+j-q0*backend.Int8Panel], ldo, pairs, flags,
					&rs[i], &rc[i], &w.Scale[j], &w.Sum[j], &s.c[0], r0, r1)
			}
			if rem > 0 {
				pr := pb + 2*pairs
				j := pr * backend.Int8Panel
				ks.amx[rb-1][0](&s.cfg[0], ap, kp, &w.Q[pr*ldp], ldp, kp, &out[i*ldo/4+j-q0*backend.Int8Panel], ldo, 1, flags,
					&rs[i], &rc[i], &w.Scale[j], &w.Sum[j], &s.c[0], r0, r1)
			}
		}
	}
}

// int8BlockBytes bounds the panels streamed past each row tile.
const int8BlockBytes = 256 << 10

// quantRow quantizes one activation row into dst (len kp ≥ len(a), the
// padding zeroed) and returns its scale and correction (see the file
// comment and backend.Int8Multiplier).
func quantRow(ks *int8KernelSet, dst []byte, a []float32) (s float32, corr int32) {
	k := len(a)
	body := k &^ 15
	var lo, hi float32
	if body > 0 && ks.minMax != nil {
		lo, hi = ks.minMax(unsafe.SliceData(a), body)
	} else if k > 0 {
		lo, hi = a[0], a[0]
		body = 0
	}
	for _, v := range a[body:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	s, inv, z := actParams(lo, hi)
	if body > 0 && ks.quant != nil {
		ks.quant(unsafe.SliceData(dst), unsafe.SliceData(a), body, inv, z)
	} else {
		body = 0
	}
	flip := byte(0)
	if ks.signed {
		flip = 0x80
	}
	for p, v := range a[body:] {
		dst[body+p] = quantByte(v, inv, z) ^ flip
	}
	clear(dst[k:])
	corr = -z
	if ks.signed {
		corr = 128 - z
	}
	return s, corr
}

// actParams returns the scale s = (hi − lo)/255 of a row whose values lie in
// [lo, hi] (widened to include 0), its inverse and the zero point
// z = round(−lo/s). A row too small to scale (s = 0 or 1/s overflowing) is
// quantized as all zero.
func actParams(lo, hi float32) (s, inv float32, z int32) {
	lo, hi = min(lo, 0), max(hi, 0)

	s = (hi - lo) / 255
	inv = 1 / s
	if !(s > 0) || math.IsInf(float64(inv), 0) || math.IsInf(float64(s), 0) {
		return 0, 0, 0
	}
	zf := math.RoundToEven(float64(-lo * inv))
	return s, inv, int32(max(0, min(255, zf)))
}

// quantByte is clamp(round(v·inv) + z, 0, 255), rounding ties to even as
// the SIMD conversions do.
func quantByte(v, inv float32, z int32) byte {
	f := math.RoundToEven(float64(v * inv))
	if !(f > -512 && f < 512) { // NaN or out of range: unspecified, but no overflow
		f = 0
		if v*inv > 0 {
			f = 512
		}
	}
	return byte(max(0, min(255, int32(f)+z)))
}

// qgemmGo is the pure-Go kernel: one row by one panel at a time.
func qgemmGo(a *byte, lda int, w *int8, ldp int, kp int, out *float32, ldo int, ntiles int, flags int, rs *float32, rc *int32, cs *float32, csum *int32) {
	const P, G = backend.Int8Panel, backend.Int8Group
	x := unsafe.Slice(a, kp)
	wq := unsafe.Slice(w, ntiles*ldp)
	o := unsafe.Slice(out, ntiles*P)
	sc := unsafe.Slice(cs, ntiles*P)
	sm := unsafe.Slice(csum, ntiles*P)
	for t := range ntiles {
		pan := wq[t*ldp : t*ldp+P*kp]
		var acc [P]int32
		for g := 0; g < kp; g += G {
			x0, x1, x2, x3 := int32(x[g]), int32(x[g+1]), int32(x[g+2]), int32(x[g+3])
			grp := pan[g*P : g*P+P*G]
			for l := range P {
				q := grp[l*G : l*G+G]
				acc[l] += x0*int32(q[0]) + x1*int32(q[1]) + x2*int32(q[2]) + x3*int32(q[3])
			}
		}
		for l := range P {
			j := t*P + l
			o[j] = epilogue(acc[l], *rc, sm[j], sc[j], *rs, o[j], flags&1 != 0)
		}
	}
}

// epilogue is the rescale every kernel applies to one output.
func epilogue(acc, corr, sum int32, cs, rs, old float32, accumulate bool) float32 {
	v := float32(float32(float32(acc+corr*sum)*cs) * rs)
	if accumulate {
		return old + v
	}
	return v
}

var _ backend.ScratchKeeper = (*Backend)(nil)

// KeptScratchBytes implements backend.ScratchKeeper: the call's scratch
// (quantized rows, their scales and corrections, the last panel's
// outputs) and, for it and each worker's, AMX's int32 tiles and the 4-bit
// panels expanded to int8.
func (b *Backend) KeptScratchBytes(m, k int) int64 {
	_, kp := backend.Int8Dims(backend.Int8Panel, k)
	call := int64(m*kp + 8*m + 4*backend.Int8Panel*m)
	// int4Block's block: at least one step of panels (at most 4).
	perGoroutine := int64(4*1024 + max(int4ScratchBytes, 4*backend.Int8Panel*kp))
	goroutines := int64(1)
	if b.threads > 1 {
		goroutines += int64(b.threads)
	}
	return call + goroutines*perGoroutine
}

// getScratch returns a kept scratch, or a new one.
func (b *Backend) getScratch() *int8Scratch {
	if s, ok := b.scratch.Get(); ok {
		return s
	}
	return new(int8Scratch)
}

// putScratch keeps s for a later getScratch. It drops s's view of the
// caller's activations, which a kept scratch must not hold alive.
func (b *Backend) putScratch(s *int8Scratch) {
	s.act.A = nil
	b.scratch.Put(s)
}

// quantRows quantizes the m rows of a (k columns) into x in ks's form,
// kp bytes per row, growing x's buffers when they are short. x keeps a
// view of a.
func quantRows(ks *int8KernelSet, x *backend.Int8Activations, a []float32, m, k int) {
	_, kp := backend.Int8Dims(0, k)
	if cap(x.X) < m*kp {
		x.X = make([]byte, m*kp)
	}
	if cap(x.Scale) < m {
		x.Scale = make([]float32, m)
	}
	if cap(x.Corr) < m {
		x.Corr = make([]int32, m)
	}
	x.M, x.K, x.KP, x.A = m, k, kp, a
	x.X, x.Scale, x.Corr = x.X[:m*kp], x.Scale[:m], x.Corr[:m]
	for i := range m {
		x.Scale[i], x.Corr[i] = quantRow(ks, x.X[i*kp:(i+1)*kp], a[i*k:(i+1)*k])
	}
	x.Form = ks.form()
}

// form is the backend.ActivationForm of ks's quantized activations.
func (ks *int8KernelSet) form() backend.ActivationForm {
	if ks.signed {
		return backend.ActivationsSigned
	}
	return backend.ActivationsUnsigned
}

// quantizeScratch quantizes a[m×k] into s's activations and returns them.
func (b *Backend) quantizeScratch(s *int8Scratch, a []float32, m, k int) *backend.Int8Activations {
	quantRows(b.int8Set(), &s.act, a, m, k)
	return &s.act
}

// usable returns x when its rows are quantized in the form of b's
// kernels, else a copy quantized from x.A into s: a product takes
// activations in any state (backend.ActivationQuantizer) and leaves x as
// it is.
func (b *Backend) usable(s *int8Scratch, x *backend.Int8Activations) *backend.Int8Activations {
	if x.Form == b.int8Set().form() {
		return x
	}
	return b.quantizeScratch(s, x.A, x.M, x.K)
}

// quantizedProductIsEmpty is intProductIsEmpty for activations quantized
// once: it also checks that x's buffers and dimensions fit the product.
func quantizedProductIsEmpty(name string, out []float32, x *backend.Int8Activations, n, k int, checkErr error, acc bool) bool {
	if x.K != k {
		panic(fmt.Sprintf("native.%s: activations of %d columns for a matrix of %d", name, x.K, k))
	}
	if x.Form != backend.ActivationsFloat {
		_, kp := backend.Int8Dims(0, k)
		if x.M < 0 || x.KP != kp || len(x.X) < x.M*kp || len(x.Scale) < x.M || len(x.Corr) < x.M {
			panic(fmt.Sprintf("native.%s: quantized activations %d×%d (stride %d) have %d bytes, %d scales, %d corrections",
				name, x.M, x.K, x.KP, len(x.X), len(x.Scale), len(x.Corr)))
		}
	}
	return intProductIsEmpty(name, out, x.A, x.M, n, k, checkErr, acc)
}

// intProductIsEmpty checks an integer product's arguments (panicking, as
// the float products do, on a misuse: wrong lengths or a malformed
// matrix, whose Check error is checkErr) and reports whether there is
// nothing to multiply; with K = 0 it has cleared out unless acc.
func intProductIsEmpty(name string, out, a []float32, m, n, k int, checkErr error, acc bool) bool {
	checkDims(name, m, k, n)
	if checkErr != nil {
		panic("native." + name + ": " + checkErr.Error())
	}
	checkLen(name, "out", out, m*n)
	checkLen(name, "a", a, m*k)
	if m == 0 || n == 0 {
		return true
	}
	if k == 0 {
		if !acc {
			clear(out[:m*n])
		}
		return true
	}
	return false
}
