package native

import (
	"unsafe"

	"github.com/wrxlabs/wrx/backend"
)

// 4-bit GEMM (backend.Int4Multiplier). The activations are quantized as
// for MatMulInt8, and the codes are multiplied in one of two ways, both
// summing exactly the integers of the equivalent Int8 matrix
// (Int4.AsInt8) and applying the int8 epilogue, so results are bit for bit
// MatMulInt8's on that matrix:
//
//   - in registers: q4Kernel expands a panel's codes to int8 inside the
//     multiply loop (a table shuffle per 64 weights), reading half a byte
//     per weight from memory. For few activation rows, where the product
//     is bound by reading the weights.
//   - through scratch: a block of panels is expanded into an L1-sized
//     buffer in Int8's layout (int8KernelSet.unpack4), then multiplied by
//     the int8 kernels, AMX included. The expansion is paid once per call
//     instead of once per row tile, and AMX's tile multiply reads its
//     weights from memory, so it needs them expanded.
//
// After either, the outliers are added (Int4.AddOutliers).

// q4Kernel is qKernel for 4-bit codes: w points at the tile's first
// panel of codes (ldp = 8·kp bytes per panel) and tab at the 16-entry
// table.
type q4Kernel func(a *byte, lda int, w *byte, ldp int, kp int, out *float32, ldo int, ntiles int, flags int, rs *float32, rc *int32, cs *float32, csum *int32, tab *int8)

var _ backend.Int4Multiplier = (*Backend)(nil)

// int4ScratchBytes bounds the expanded panels of one block of the scratch
// path. Measured at 25 rows on AMX (BenchmarkInt4, K×N = 384×1152,
// 384×1536, 1536×384): 24 KB (L1) makes the expansion cheapest but the AMX
// kernels slower on so short a stream, 256 KB the reverse; 96 KB was the
// best total (28–40 µs against 33–42 µs at 24 KB). It is a variable for
// that benchmark.
var int4ScratchBytes = 96 << 10

// Int4Kernels names how the 4-bit products run: the in-register kernels'
// expansion ("avx512vbmi", "avx512bw", "go") or "scratch" when the set has
// none, then the int8 kernels they share the epilogue with.
func (b *Backend) Int4Kernels() string {
	ks := b.int8Set()
	name := ks.name4
	if ks.kern4 == nil {
		name = "scratch"
	}
	return name + "+" + ks.name
}

// MatMulInt4 implements backend.Int4Multiplier. out must not overlap a.
func (b *Backend) MatMulInt4(out, a []float32, m int, w *backend.Int4, acc bool) {
	if intProductIsEmpty("MatMulInt4", out, a, m, w.N, w.K, w.Check(), acc) {
		return
	}
	s := b.getScratch()
	defer b.putScratch(s)
	b.int4Product(out, b.quantizeScratch(s, a, m, w.K), w, acc, s)
}

// MatMulInt4Quantized implements backend.ActivationQuantizer. out must
// not overlap x.A.
func (b *Backend) MatMulInt4Quantized(out []float32, x *backend.Int8Activations, w *backend.Int4, acc bool) {
	if quantizedProductIsEmpty("MatMulInt4Quantized", out, x, w.N, w.K, w.Check(), acc) {
		return
	}
	s := b.getScratch()
	defer b.putScratch(s)
	b.int4Product(out, b.usable(s, x), w, acc, s)
}

// int4Product multiplies the quantized rows x by w and adds w's outliers
// (see MatMulInt4), with s the calling goroutine's scratch.
func (b *Backend) int4Product(out []float32, x *backend.Int8Activations, w *backend.Int4, acc bool, s *int8Scratch) {
	ks := b.int8Set()
	m, n, k, kp := x.M, w.N, w.K, x.KP
	xq, rs, rc := x.X, x.Scale, x.Corr
	full, rem := n/backend.Int8Panel, n%backend.Int8Panel
	threads := b.threads
	if 2*m*n*k < 4*parallelMinFlops {
		threads = 1
	}
	grain := len(ks.kern[0])
	if ks.kern4 != nil {
		grain = max(grain, len(ks.kern4[0]))
	}
	if full > 0 {
		if threads > 1 {
			b.pool.parallelFor(full, grain, threads, func(p0, p1 int) {
				own := b.getScratch()
				int4Block(ks, out, n*4, 0, xq, kp, w, rs, rc, m, p0, p1, acc, own)
				b.putScratch(own)
			})
		} else {
			int4Block(ks, out, n*4, 0, xq, kp, w, rs, rc, m, 0, full, acc, s)
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
		int4Block(ks, t, 16*4, full, xq, kp, w, rs, rc, m, full, full+1, acc, s)
		for i := range m {
			copy(out[i*n+j0:i*n+n], t[i*16:i*16+rem])
		}
	}
	w.AddOutliers(out, x.A, m)
}

// int4InRegisters reports whether the in-register kernels take a product
// of m rows: for a matrix of one table (the kernels hold one), up to
// int4RegMaxRowsAMX rows where the int8 path would use AMX (K a multiple
// of 64) and int4RegMaxRows elsewhere.
func int4InRegisters(ks *int8KernelSet, w *backend.Int4, m, kp int) bool {
	switch {
	case ks.kern4 == nil || ks.int4Mode == int4Scratch || len(w.TableOf) > 0:
		return false
	case ks.int4Mode == int4Registers:
		return true
	case ks.amx != nil && kp%64 == 0:
		return m <= int4RegMaxRowsAMX
	}
	return m <= int4RegMaxRows
}

// The most rows the in-register kernels take, measured on the development
// machine (benchgemm, 1 thread, K×N = 384×1152, 384×1536, 1536×384): in
// registers 505–550 GOPS at every m from 4 to 20; through scratch and AMX
// 195–205 at m = 4, 350–370 at 8, 470–510 at 12, 590–635 at 16; through
// scratch and the VNNI int8 kernels slower than in registers at m = 8
// (BenchmarkInt4: 23 against 21 µs) and faster at 25 (41 against 46 µs).
const (
	int4RegMaxRowsAMX = 13
	int4RegMaxRows    = 16
)

// int4Block computes panels [p0, p1) of out for all m rows, as int8Block
// does (out holds panel p at column 16(p−q0), ldo bytes per row). s is a
// scratch of the calling goroutine's own.
func int4Block(ks *int8KernelSet, out []float32, ldo, q0 int, x []byte, kp int, w *backend.Int4, rs []float32, rc []int32, m, p0, p1 int, acc bool, s *int8Scratch) {
	const P = backend.Int8Panel
	ldp4 := P * kp / 2
	if int4InRegisters(ks, w, m, kp) {
		rm, cm := len(ks.kern4), len(ks.kern4[0])
		flags := 0
		if acc {
			flags = 1
		}
		nb := max(cm, int8BlockBytes/ldp4/cm*cm)
		panelTiles(m, rm, cm, nb, p0, p1, func(i, r, p, n, c int) {
			j := p * P
			ks.kern4[r-1][c-1](&x[i*kp], kp, &w.Codes[p*ldp4], ldp4, kp, &out[i*ldo/4+j-q0*P], ldo, n, flags,
				&rs[i], &rc[i], &w.Scale[j], &w.Sum[j], &w.Tables[0].Q[0])
		})
		return
	}
	// Through scratch: blocks of panels expanded to int8, each multiplied
	// as an Int8 matrix viewing the scratch, its scales and sums w's.
	ldp8 := P * kp
	step := 2 // the AMX kernels' panel pair
	if ks.amx == nil {
		step = len(ks.kern[0])
	}
	nb := max(step, int4ScratchBytes/ldp8/step*step)
	if need := nb * ldp8; len(s.u) < need {
		s.u = make([]int8, need)
	}
	for pb := p0; pb < p1; pb += nb {
		pe := min(pb+nb, p1)
		u := s.u[:(pe-pb)*ldp8]
		src := w.Codes[pb*ldp4 : pe*ldp4]
		if len(w.TableOf) == 0 {
			unpack4(ks, u, src, &w.Tables[0].Q)
		} else {
			// A table per panel and block of KBlock columns: 8 bytes of
			// codes per column of a panel, 16 once expanded.
			// The table indices of a panel are read once per panel
			// (TableAt would recompute the layout per block), and the
			// expander is called directly: the output and FFN down
			// projections of a fused layer have a table per 32 or 128
			// columns, so the calls are many and short.
			kb := w.KBlock
			nbk := (kp + kb - 1) / kb
			for P := pb; P < pe; P++ {
				o := (P - pb) * ldp4
				tabs := w.TableOf[P*nbk : P*nbk+nbk]
				if ks.unpack4 == nil {
					for b, t := range tabs {
						c, e := b*kb, min(b*kb+kb, kp)
						backend.UnpackInt4(u[2*o+16*c:2*o+16*e], src[o+8*c:o+8*e], &w.Tables[t].Q)
					}
					continue
				}
				ud, sd := unsafe.Pointer(&u[2*o]), unsafe.Pointer(&src[o])
				for b, t := range tabs {
					c, e := b*kb, min(b*kb+kb, kp)
					ks.unpack4((*int8)(unsafe.Add(ud, 16*c)), (*byte)(unsafe.Add(sd, 8*c)), 8*(e-c), &w.Tables[t].Q[0])
				}
			}
		}
		s.view = backend.Int8{N: w.N, K: w.K, Q: u, Scale: w.Scale[pb*P:], Sum: w.Sum[pb*P:]}
		int8Block(ks, out, ldo, q0-pb, x, kp, &s.view, ldp8, rs, rc, m, 0, pe-pb, acc, s)
	}
}

// unpack4 expands src (a multiple of 64 bytes) into dst with ks's
// expander.
func unpack4(ks *int8KernelSet, dst []int8, src []byte, tab *[16]int8) {
	if ks.unpack4 != nil && len(src) > 0 {
		ks.unpack4(unsafe.SliceData(dst), unsafe.SliceData(src), len(src), &tab[0])
		return
	}
	backend.UnpackInt4(dst, src, tab)
}

// q4gemmGo is the pure-Go 4-bit kernel, the reference the others match:
// one row by one panel at a time, each code looked up in the table.
func q4gemmGo(a *byte, lda int, w *byte, ldp int, kp int, out *float32, ldo int, ntiles int, flags int, rs *float32, rc *int32, cs *float32, csum *int32, tab *int8) {
	const P = backend.Int8Panel
	x := unsafe.Slice(a, kp)
	codes := unsafe.Slice(w, ntiles*ldp)
	T := (*[16]int8)(unsafe.Pointer(tab))
	o := unsafe.Slice(out, ntiles*P)
	sc := unsafe.Slice(cs, ntiles*P)
	sm := unsafe.Slice(csum, ntiles*P)
	for t := range ntiles {
		pan := codes[t*ldp : t*ldp+P*kp/2]
		var acc [P]int32
		for g := 0; g < kp; g += 8 {
			x0, x1, x2, x3 := int32(x[g]), int32(x[g+1]), int32(x[g+2]), int32(x[g+3])
			x4, x5, x6, x7 := int32(x[g+4]), int32(x[g+5]), int32(x[g+6]), int32(x[g+7])
			grp := pan[g*8 : g*8+64]
			for l := range P {
				c := grp[l*4 : l*4+4]
				acc[l] += x0*int32(T[c[0]&15]) + x1*int32(T[c[1]&15]) + x2*int32(T[c[2]&15]) + x3*int32(T[c[3]&15]) +
					x4*int32(T[c[0]>>4]) + x5*int32(T[c[1]>>4]) + x6*int32(T[c[2]>>4]) + x7*int32(T[c[3]>>4])
			}
		}
		for l := range P {
			j := t*P + l
			o[j] = epilogue(acc[l], *rc, sm[j], sc[j], *rs, o[j], flags&1 != 0)
		}
	}
}

// q4Variant is one family of in-register 4-bit kernels.
type q4Variant struct {
	name string
	kern [][]q4Kernel
}

// int4Mode is how MatMulInt4 runs (Options.Int4Path).
type int4Mode uint8

const (
	int4Auto      int4Mode = iota // per call, int4InRegisters' rule
	int4Registers                 // always in registers
	int4Scratch                   // always through scratch
)
