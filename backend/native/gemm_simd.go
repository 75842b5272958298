package native

import "github.com/wrxlabs/wrx/internal/freelist"

//go:generate go run ./internal/asmgen -dir .

// dotKernel is the signature of every assembly micro-kernel. For t in
// [0, ntiles) it computes an r×c tile of out = a·wᵀ, r and c fixed by the
// kernel (c ≤ tileCols): rows [0, r) of a against rows [4t, 4t+c) of w,
// over k columns, into out[i·ldo + 4t + j]. Strides are in bytes. Each
// output is summed as per-lane FMA chains over k ascending, then reduced by
// a fixed addition tree. flags bit 0 adds the sum to out instead of storing
// it. The kernel reads nothing outside the rows and k columns it is given.
type dotKernel func(a *float32, lda int, w *float32, ldw int, k int, out *float32, ldo int, ntiles int, flags int)

// tileCols is how many rows of w (output columns) a kernel tile covers.
const tileCols = 4

// kernelSet is one family of micro-kernels for one instruction set.
type kernelSet struct {
	name string
	// kern[r-1][c-1] computes r×c tiles; len(kern) is the tallest tile.
	kern [][tileCols]dotKernel
	// kPad: K must be a multiple of kPad, otherwise a and w are copied
	// with zero-padded rows first.
	kPad int
	elem elemOps
}

const (
	// kcMax bounds a K block, so the r rows of A a kernel streams stay in
	// L1 across the w tiles that reuse them. K blocks split K evenly, so
	// the order of additions depends on K alone.
	kcMax = 1024
	// wBlockBytes bounds the block of W rows streamed past each row tile
	// of A; it stays in L2 while all of A goes by.
	wBlockBytes = 384 << 10
)

func (b *Backend) matMulSIMD(out []float32, ldo int, a []float32, lda int, w []float32, ldw int, m, k, n int, acc bool) {
	ks := b.ks
	if k%ks.kPad != 0 {
		// Zero columns add exact zeros, so padding changes no sum.
		kp := (k + ks.kPad - 1) / ks.kPad * ks.kPad
		buf := getPad((m + n) * kp)
		defer pads.Put(buf)
		a = padRows((*buf)[:m*kp], a, lda, m, k, kp)
		w = padRows((*buf)[m*kp:(m+n)*kp], w, ldw, n, k, kp)
		lda, ldw, k = kp, kp, kp
	}
	nkb := (k + kcMax - 1) / kcMax
	kc := ((k+nkb-1)/nkb + 15) &^ 15
	rm := len(ks.kern)
	threads := b.threads
	if 2*m*n*k < parallelMinFlops {
		threads = 1
	}
	colTiles := (n + tileCols - 1) / tileCols
	rowTiles := (m + rm - 1) / rm
	if threads <= 1 {
		// No closure: one created here would be allocated on every call.
		gemmBlock(ks, out, a, w, k, ldo, lda, ldw, kc, 0, m, 0, n, acc)
		return
	}
	if colTiles >= 2*threads || colTiles >= rowTiles {
		b.pool.parallelFor(n, tileCols, threads, func(j0, j1 int) {
			gemmBlock(ks, out, a, w, k, ldo, lda, ldw, kc, 0, m, j0, j1, acc)
		})
	} else {
		b.pool.parallelFor(m, rm, threads, func(i0, i1 int) {
			gemmBlock(ks, out, a, w, k, ldo, lda, ldw, kc, i0, i1, 0, n, acc)
		})
	}
}

// padRows copies rows of k values of s (stride ld) into p with stride kp,
// the columns past k zero.
func padRows(p, s []float32, ld, rows, k, kp int) []float32 {
	for i := range rows {
		copy(p[i*kp:i*kp+k], s[i*ld:i*ld+k])
		clear(p[i*kp+k : (i+1)*kp])
	}
	return p
}

// pads keeps padRows' buffers between calls, across collections:
// products with an odd inner dimension, such as attention over a
// sequence, would otherwise allocate on every call.
var pads = freelist.List[*[]float32]{Max: 16}

func getPad(n int) *[]float32 {
	b, ok := pads.Get()
	if !ok {
		b = new([]float32)
	}
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	*b = (*b)[:n]
	return b
}

// tileHeight is the height of row tile t when rows rows are split into
// tiles tiles of near-equal height: 8 rows at most 6 a tile run as 4+4,
// not 6+2, since a short tile re-reads W once per few FMAs (and uses
// fewer registers). Every blocked product splits its rows this way.
func tileHeight(rows, tiles, t int) int {
	if t < rows%tiles {
		return rows/tiles + 1
	}
	return rows / tiles
}

// gemmBlock computes out[i0:i1, j0:j1] with the kernels of ks; n is the
// row stride of out.
func gemmBlock(ks *kernelSet, out, a, w []float32, k, n, lda, ldw, kc, i0, i1, j0, j1 int, acc bool) {
	rm := len(ks.kern)
	nb := max(tileCols, wBlockBytes/4/kc/tileCols*tileCols)
	var r int
	for kb := 0; kb < k; kb += kc {
		kcur := min(kc, k-kb)
		flags := 0
		if acc || kb > 0 {
			flags = 1
		}
		for jb := j0; jb < j1; jb += nb {
			je := min(jb+nb, j1)
			full := (je - jb) / tileCols
			rem := (je - jb) % tileCols
			jr := jb + full*tileCols
			tiles := (i1 - i0 + rm - 1) / rm
			for t, i := 0, i0; i < i1; t, i = t+1, i+r {
				r = tileHeight(i1-i0, tiles, t)
				ap := &a[i*lda+kb]
				if full > 0 {
					ks.kern[r-1][tileCols-1](ap, lda*4, &w[jb*ldw+kb], ldw*4, kcur, &out[i*n+jb], n*4, full, flags)
				}
				if rem > 0 {
					ks.kern[r-1][rem-1](ap, lda*4, &w[jr*ldw+kb], ldw*4, kcur, &out[i*n+jr], n*4, 1, flags)
				}
			}
		}
	}
}
