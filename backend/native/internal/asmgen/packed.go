package main

import (
	"bytes"
	"fmt"
	"go/format"
	"log"
)

// Packed float32 kernels (backend.Packed): W is stored in panels of 16
// outputs, K-major inside a panel, so for each k a kernel loads the 16
// weights of each of its c panels as vectors, broadcasts the k-th value of
// each of its r rows of A, and accumulates r×16c outputs in registers with
// one FMA chain per output over k ascending. No horizontal sum is needed,
// and every output is the same chain whichever kernel computes it.

// pkVec describes one instruction set's vectors for the packed kernels.
type pkVec struct {
	prefix string // kernel name prefix
	reg    string // "Z" or "Y"
	nregs  int    // vector registers
	perPan int    // vectors per 16-float panel column
	bytes  int    // bytes per vector
	// maxRows[c-1] is the tallest tile of c panels.
	maxRows []int
}

var (
	pk512 = pkVec{prefix: "pk512", reg: "Z", nregs: 32, perPan: 1, bytes: 64, maxRows: []int{15, 14, 8, 6}}
	pk256 = pkVec{prefix: "pk256", reg: "Y", nregs: 16, perPan: 2, bytes: 32, maxRows: []int{6}}
)

// pkParams are the packed kernels' parameters (see packedKernel in
// package native).
const pkParams = "a *float32, lda int, w *float32, ldp int, k int, out *float32, ldo int, ntiles int, flags int, pf uintptr, pfstep int"

// pkUnroll is how many k steps one iteration of a kernel's main loop runs.
const pkUnroll = 4

func genPacked() []byte {
	var a asm
	a.WriteString(header)
	a.WriteString("//go:build !purego\n\n#include \"textflag.h\"\n\n")
	for _, v := range []pkVec{pk512, pk256} {
		for c := 1; c <= len(v.maxRows); c++ {
			for r := 1; r <= v.maxRows[c-1]; r++ {
				genPackedKernel(&a, v, r, c)
			}
		}
	}
	return a.Bytes()
}

// pkRowBases hold rows 3b..3b+2 of A, then of out.
var pkRowBases = []string{"R8", "R10", "R11", "R13", "R14"}

// pkRow addresses row i (of A or out) at byte offset disp, rows hanging
// off pkRowBases with stride reg.
func pkRow(i, disp int, stride string) string {
	b := pkRowBases[i/3]
	d := ""
	if disp != 0 {
		d = fmt.Sprint(disp)
	}
	switch i % 3 {
	case 0:
		return d + "(" + b + ")"
	case 1:
		return d + "(" + b + ")(" + stride + "*1)"
	default:
		return d + "(" + b + ")(" + stride + "*2)"
	}
}

// setRowBases points pkRowBases at rows 0, 3, 6, … from base0.
func setRowBases(a *asm, rows int, stride string) {
	for b := 1; 3*b < rows; b++ {
		a.f("LEAQ (%s)(%s*2), %s", pkRowBases[b-1], stride, pkRowBases[b])
		a.f("ADDQ %s, %s", stride, pkRowBases[b])
	}
}

// genPackedKernel writes the r×c-panel kernel: for t in [0, ntiles), rows
// [0, r) of a against panels [c·t, c·t+c) of w (ldp bytes apart) over k
// columns, into out[i·ldo + 16c·t + j]; flags bit 0 adds to out. Each
// iteration of the main loop (pkUnroll k steps) prefetches into L2 one
// line of each of c panels of the prefetch stream (pf, panels ldp apart),
// then advances it pfstep bytes; each tile starts its stream c panels
// after the previous tile's. Registers: R8 R10 R11 R13 R14 rows of A (R14
// the fourth panel and R11 the stream's fourth panel when c = 4, which
// has at most 6 rows), R9 lda, R12 the tile's first panel at the current
// k, R15 ldp, CX the k counter, AX the prefetch stream.
func genPackedKernel(a *asm, v pkVec, rows, cols int) {
	name := fmt.Sprintf("%s_%dx%d", v.prefix, rows, cols)
	fmt.Fprintf(a, "// func %s(%s)\n", name, pkParams)
	fmt.Fprintf(a, "TEXT ·%s(SB), NOSPLIT, $0-88\n", name)
	if cols == 4 && rows > 6 {
		log.Fatalf("%s: R11 and R14 are both row bases and fourth panels", name)
	}
	a.f("MOVQ lda+8(FP), R9")
	a.f("MOVQ w+16(FP), R12")
	a.f("MOVQ ldp+24(FP), R15")
	a.f("MOVQ k+32(FP), SI")
	a.f("MOVQ out+40(FP), DI")
	a.f("MOVQ ldo+48(FP), BX")
	a.f("MOVQ ntiles+56(FP), DX")
	a.f("MOVQ pf+72(FP), AX")
	nv := cols * v.perPan
	nacc := rows * nv
	acc := func(i, j, s int) string { return fmt.Sprintf("%s%d", v.reg, i*nv+j*v.perPan+s) }
	wreg := func(j, s int) string { return fmt.Sprintf("%s%d", v.reg, nacc+j*v.perPan+s) }
	nb := min(2, v.nregs-nacc-nv)
	if nb < 1 {
		log.Fatalf("%s: %d accumulators and %d weight vectors leave no register to broadcast into", name, nacc, nv)
	}
	breg := func(i int) string { return fmt.Sprintf("%s%d", v.reg, nacc+nv+i%nb) }
	// panelAt addresses panel j of the tile at base (R12, its fourth
	// panel R14) or of the prefetch stream (AX, fourth panel R11).
	panelAt := func(base, fourth string, j, disp int) string {
		d := ""
		if disp != 0 {
			d = fmt.Sprint(disp)
		}
		switch j {
		case 0:
			return d + "(" + base + ")"
		case 1:
			return d + "(" + base + ")(R15*1)"
		case 2:
			return d + "(" + base + ")(R15*2)"
		default:
			return d + "(" + fourth + ")"
		}
	}
	panel := func(j, disp int) string { return panelAt("R12", "R14", j, disp) }
	zero := "VXORPS"
	if v.reg == "Z" {
		zero = "VPXORD"
	}
	a.label("tile")
	a.f("MOVQ a+0(FP), R8")
	setRowBases(a, rows, "R9")
	if cols == 4 {
		a.f("LEAQ (R12)(R15*2), R14")
		a.f("ADDQ R15, R14")
	}
	for i := range nacc {
		r := fmt.Sprintf("%s%d", v.reg, i)
		a.f("%s %s, %s, %s", zero, r, r, r)
	}
	step := func(u int, prefetch bool) {
		for j := range cols {
			for s := range v.perPan {
				a.f("VMOVUPS %s, %s", panel(j, 64*u+s*v.bytes), wreg(j, s))
			}
		}
		if prefetch && u < cols {
			// One line of panel u of the prefetch stream per iteration.
			if u == 3 {
				a.f("LEAQ (AX)(R15*2), R11")
				a.f("ADDQ R15, R11")
			}
			a.f("PREFETCHT1 %s", panelAt("AX", "R11", u, 0))
		}
		for i := range rows {
			a.f("VBROADCASTSS %s, %s", pkRow(i, 4*u, "R9"), breg(i))
			for j := range cols {
				for s := range v.perPan {
					a.f("VFMADD231PS %s, %s, %s", wreg(j, s), breg(i), acc(i, j, s))
				}
			}
		}
	}
	advance := func(u int) {
		for b := 0; 3*b < rows; b++ {
			a.f("ADDQ $%d, %s", 4*u, pkRowBases[b])
		}
		a.f("ADDQ $%d, R12", 64*u)
		if cols == 4 {
			a.f("ADDQ $%d, R14", 64*u)
		}
	}
	a.f("MOVQ SI, CX")
	a.f("SHRQ $%d, CX", log2(pkUnroll))
	a.f("JZ rest")
	a.label("loop")
	for u := range pkUnroll {
		step(u, true)
	}
	advance(pkUnroll)
	a.f("ADDQ pfstep+80(FP), AX")
	a.f("DECQ CX")
	a.f("JNZ loop")
	a.label("rest")
	a.f("MOVQ SI, CX")
	a.f("ANDQ $%d, CX", pkUnroll-1)
	a.f("JZ store")
	a.label("one")
	step(0, false)
	advance(1)
	a.f("DECQ CX")
	a.f("JNZ one")
	a.label("store")
	a.f("MOVQ DI, R8")
	setRowBases(a, rows, "BX")
	a.f("MOVQ flags+64(FP), CX")
	a.f("TESTQ $1, CX")
	a.f("JZ put")
	for i := range rows {
		for j := range cols {
			for s := range v.perPan {
				a.f("VADDPS %s, %s, %s", pkRow(i, 64*j+s*v.bytes, "BX"), acc(i, j, s), acc(i, j, s))
			}
		}
	}
	a.label("put")
	for i := range rows {
		for j := range cols {
			for s := range v.perPan {
				a.f("VMOVUPS %s, %s", acc(i, j, s), pkRow(i, 64*j+s*v.bytes, "BX"))
			}
		}
	}
	// Next tile: the prefetch stream back to where this tile's began,
	// then it and R12 (back to k = 0) c panels on.
	a.f("MOVQ SI, CX")
	a.f("SHRQ $%d, CX", log2(pkUnroll))
	a.f("IMULQ pfstep+80(FP), CX")
	a.f("SUBQ CX, AX")
	switch cols {
	case 1:
		a.f("ADDQ R15, AX")
	case 2:
		a.f("LEAQ (AX)(R15*2), AX")
	case 3:
		a.f("LEAQ (AX)(R15*2), AX")
		a.f("ADDQ R15, AX")
	case 4:
		a.f("LEAQ (AX)(R15*4), AX")
	}
	a.f("MOVQ SI, CX")
	a.f("SHLQ $6, CX")
	a.f("SUBQ CX, R12")
	switch cols {
	case 1:
		a.f("ADDQ R15, R12")
	case 2:
		a.f("LEAQ (R12)(R15*2), R12")
	case 3:
		a.f("LEAQ (R12)(R15*2), R12")
		a.f("ADDQ R15, R12")
	case 4:
		a.f("LEAQ (R12)(R15*4), R12")
	}
	a.f("ADDQ $%d, DI", 64*cols)
	a.f("DECQ DX")
	a.f("JNZ tile")
	a.f("VZEROUPPER")
	a.f("RET")
	a.WriteString("\n")
}

func log2(n int) int {
	l := 0
	for 1<<l < n {
		l++
	}
	return l
}

// pkGoDecls declares the packed kernels and their tables,
// prefixKernels[r-1][c-1] (nil where a tile does not fit the registers).
func pkGoDecls() []byte {
	var b bytes.Buffer
	b.WriteString(header)
	fmt.Fprintf(&b, "//go:build !purego\n\npackage native\n\n")
	for _, v := range []pkVec{pk512, pk256} {
		rmax := 0
		for c := 1; c <= len(v.maxRows); c++ {
			rmax = max(rmax, v.maxRows[c-1])
			for r := 1; r <= v.maxRows[c-1]; r++ {
				fmt.Fprintf(&b, "//go:noescape\nfunc %s_%dx%d(%s)\n\n", v.prefix, r, c, pkParams)
			}
		}
		fmt.Fprintf(&b, "// %sKernels[r-1][c-1] computes an r-row, c-panel tile (nil where it does\n// not fit the registers); see packedKernel.\nvar %sKernels = [%d][%d]packedKernel{\n", v.prefix, v.prefix, rmax, len(v.maxRows))
		for r := 1; r <= rmax; r++ {
			b.WriteString("{")
			for c := 1; c <= len(v.maxRows); c++ {
				if r <= v.maxRows[c-1] {
					fmt.Fprintf(&b, "%s_%dx%d, ", v.prefix, r, c)
				} else {
					b.WriteString("nil, ")
				}
			}
			b.WriteString("},\n")
		}
		b.WriteString("}\n\n")
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		log.Fatalf("packed decls: %v\n%s", err, b.Bytes())
	}
	return src
}
