package main

import (
	"bytes"
	"fmt"
	"go/format"
	"log"
)

// The int8 kernels multiply activation rows quantized to bytes with weight
// panels of backend.Int8 (16 outputs × groups of 4 K values, 64 bytes per
// group) and apply the shared epilogue (see int8.go in package native):
//
//	out = float32(float32(float32(Σ + rc[i]·csum[j]) · cs[j]) · rs[i])
//
// Every accumulator lane is one output, so there is no horizontal sum:
// integer sums are exact, and the epilogue is the same sequence of float32
// operations as the Go kernel's, so every kernel agrees with it bit for bit.

// The argument frame of every int8 kernel (qKernel in int8.go).
const qframe = "$0-104"

const (
	maxRowsQ512 = 6
	maxColsQ512 = 4 // panels
	maxRowsQ256 = 2
)

func qname(prefix string, r, c int) string { return fmt.Sprintf("%s_%dx%d", prefix, r, c) }

func qheader(a *asm, name string) {
	fmt.Fprintf(a, "// func %s(a *byte, lda int, w *int8, ldp int, kp int, out *float32, ldo int, ntiles int, flags int, rs *float32, rc *int32, cs *float32, csum *int32)\n", name)
	fmt.Fprintf(a, "TEXT ·%s(SB), NOSPLIT, %s\n", name, qframe)
}

// genQ512 writes the AVX-512 VNNI kernels: tiles of r ≤ 6 activation rows
// by c ≤ 4 panels. Accumulator (i, j) is Z(4i+j); the c panels' current
// group is loaded into Z24..Z27 and each row's four bytes are broadcast
// into Z28/Z29 for VPDPBUSD (unsigned activations × signed weights). The
// K loop steps 16 columns (four groups) at a time.
func genQ512() []byte {
	var a asm
	a.WriteString(header)
	a.WriteString("//go:build !purego\n\n#include \"textflag.h\"\n\n")
	for r := 1; r <= maxRowsQ512; r++ {
		for c := 1; c <= maxColsQ512; c++ {
			genQ512Kernel(&a, r, c)
		}
	}
	// Activation quantizer primitives.
	a.WriteString(`// func minMaxAVX512(x *float32, n int) (lo, hi float32)
TEXT ·minMaxAVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Z0
	VMOVAPS Z0, Z1
	ADDQ $64, SI
	SUBQ $16, CX
	JZ mmreduce
mmloop:
	VMOVUPS (SI), Z2
	VMINPS Z2, Z0, Z0
	VMAXPS Z2, Z1, Z1
	ADDQ $64, SI
	SUBQ $16, CX
	JNZ mmloop
mmreduce:
	VEXTRACTF64X4 $1, Z0, Y2
	VMINPS Y2, Y0, Y0
	VEXTRACTF64X4 $1, Z1, Y3
	VMAXPS Y3, Y1, Y1
	VEXTRACTF128 $1, Y0, X2
	VMINPS X2, X0, X0
	VEXTRACTF128 $1, Y1, X3
	VMAXPS X3, X1, X1
	VPERMILPS $0x4E, X0, X2
	VMINPS X2, X0, X0
	VPERMILPS $0x4E, X1, X3
	VMAXPS X3, X1, X1
	VPERMILPS $0xB1, X0, X2
	VMINPS X2, X0, X0
	VPERMILPS $0xB1, X1, X3
	VMAXPS X3, X1, X1
	VMOVSS X0, lo+16(FP)
	VMOVSS X1, hi+20(FP)
	VZEROUPPER
	RET

// func quantAVX512(dst *byte, a *float32, n int, inv float32, z int32)
TEXT ·quantAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS inv+24(FP), Z1
	MOVL z+28(FP), R8
	VMOVD R8, X2
	VPBROADCASTD X2, Z2
	VPXORD Z3, Z3, Z3
qloop:
	VMULPS (SI), Z1, Z0
	VCVTPS2DQ Z0, Z0
	VPADDD Z2, Z0, Z0
	VPMAXSD Z3, Z0, Z0
	VPMOVUSDB Z0, (DI)
	ADDQ $64, SI
	ADDQ $16, DI
	SUBQ $16, CX
	JNZ qloop
	VZEROUPPER
	RET

`)
	return a.Bytes()
}

// qLoadArgs loads the registers every x86 int8 kernel keeps: R9 lda, R14
// the tile's first panel, R12 ldp, SI kp, DI out, BX ldo, DX ntiles, AX
// flags.
func qLoadArgs(a *asm) {
	a.f("MOVQ lda+8(FP), R9")
	a.f("MOVQ w+16(FP), R14")
	a.f("MOVQ ldp+24(FP), R12")
	a.f("MOVQ kp+32(FP), SI")
	a.f("MOVQ out+40(FP), DI")
	a.f("MOVQ ldo+48(FP), BX")
	a.f("MOVQ ntiles+56(FP), DX")
	a.f("MOVQ flags+64(FP), AX")
}

// addrDisp is rowAddr with a displacement.
func addrDisp(disp, r int, base0, base3, stride string) string {
	s := rowAddr(r, base0, base3, stride)
	if disp == 0 {
		return s
	}
	return fmt.Sprintf("%d%s", disp, s)
}

// advanceTile moves R14 by c panels and DI by 16c outputs.
func advanceTile(a *asm, c int) {
	switch c {
	case 1:
		a.f("ADDQ R12, R14")
	case 2:
		a.f("LEAQ (R14)(R12*2), R14")
	case 3:
		a.f("LEAQ (R14)(R12*2), R14")
		a.f("ADDQ R12, R14")
	case 4:
		a.f("LEAQ (R14)(R12*4), R14")
	}
	a.f("ADDQ $%d, DI", 64*c)
}

// qColumnPointers sets R11 to cs and R13 to csum, both advanced to the
// current tile (by the distance DI has moved from out), using R8.
func qColumnPointers(a *asm) { qColumnPointersAt(a, 0) }

// qColumnPointersAt is qColumnPointers for a frame whose out, cs and csum
// sit off bytes later than qKernel's.
func qColumnPointersAt(a *asm, off int) {
	a.f("MOVQ DI, R8")
	a.f("SUBQ out+%d(FP), R8", 40+off)
	a.f("MOVQ cs+%d(FP), R11", 88+off)
	a.f("ADDQ R8, R11")
	a.f("MOVQ csum+%d(FP), R13", 96+off)
	a.f("ADDQ R8, R13")
}

// q512TileStart begins a tile of the AVX-512 int8 and 4-bit kernels:
// the row pointers of a (R8, R10 the fourth), the column pointers (R11,
// R13 the fourth), the accumulators Z0… cleared, CX the K/16 count, and
// the label of the K loop.
func q512TileStart(a *asm, rows, cols int) {
	a.label("tile")
	a.f("MOVQ a+0(FP), R8")
	if rows > 3 {
		a.f("LEAQ (R8)(R9*2), R10")
		a.f("ADDQ R9, R10")
	}
	a.f("MOVQ R14, R11")
	if cols > 3 {
		a.f("LEAQ (R11)(R12*2), R13")
		a.f("ADDQ R12, R13")
	}
	for i := range rows {
		for j := range cols {
			z := 4*i + j
			a.f("VPXORD Z%d, Z%d, Z%d", z, z, z)
		}
	}
	a.f("MOVQ SI, CX")
	a.f("SHRQ $4, CX")
	a.label("loop")
}

func genQ512Kernel(a *asm, rows, cols int) {
	name := qname("q512", rows, cols)
	qheader(a, name)
	qLoadArgs(a)
	q512TileStart(a, rows, cols)
	for g := range 4 {
		for j := range cols {
			a.f("VMOVDQU32 %s, Z%d", addrDisp(64*g, j, "R11", "R13", "R12"), 24+j)
		}
		for i := range rows {
			t := 28 + i%2
			a.f("VPBROADCASTD %s, Z%d", addrDisp(4*g, i, "R8", "R10", "R9"), t)
			for j := range cols {
				a.f("VPDPBUSD Z%d, Z%d, Z%d", 24+j, t, 4*i+j)
			}
		}
	}
	a.f("ADDQ $16, R8")
	if rows > 3 {
		a.f("ADDQ $16, R10")
	}
	a.f("ADDQ $256, R11")
	if cols > 3 {
		a.f("ADDQ $256, R13")
	}
	a.f("DECQ CX")
	a.f("JNZ loop")

	q512Epilogue(a, rows, cols)
}

// q512Epilogue writes the AVX-512 int8 epilogue of a rows×cols tile in
// Z0…: out = ((Σ + rc·csum)·cs)·rs, stored or added (flags bit 0), then
// the next tile. R8 rs, CX rc, R11 cs, R13 csum (at this tile), R10 the
// fourth output row. The 4-bit kernels end the same way.
func q512Epilogue(a *asm, rows, cols int) {
	qColumnPointers(a)
	a.f("MOVQ rs+72(FP), R8")
	a.f("MOVQ rc+80(FP), CX")
	if rows > 3 {
		a.f("LEAQ (DI)(BX*2), R10")
		a.f("ADDQ BX, R10")
	}
	for i := range rows {
		a.f("VPBROADCASTD %d(CX), Z30", 4*i)
		a.f("VBROADCASTSS %d(R8), Z31", 4*i)
		for j := range cols {
			z := 4*i + j
			a.f("VPMULLD %d(R13), Z30, Z28", 64*j)
			a.f("VPADDD Z28, Z%d, Z%d", z, z)
			a.f("VCVTDQ2PS Z%d, Z%d", z, z)
			a.f("VMULPS %d(R11), Z%d, Z%d", 64*j, z, z)
			a.f("VMULPS Z31, Z%d, Z%d", z, z)
			dst := addrDisp(64*j, i, "DI", "R10", "BX")
			lbl := fmt.Sprintf("st%d_%d", i, j)
			a.f("TESTQ $1, AX")
			a.f("JZ %s", lbl)
			a.f("VADDPS %s, Z%d, Z%d", dst, z, z)
			a.label(lbl)
			a.f("VMOVUPS Z%d, %s", z, dst)
		}
	}
	advanceTile(a, cols)
	a.f("DECQ DX")
	a.f("JNZ tile")
	a.f("VZEROUPPER")
	a.f("RET")
	a.WriteString("\n")
}

// genQ256 writes the AVX2 kernels: tiles of r ≤ 2 rows by one panel. AVX2
// has no byte dot product that cannot saturate (VPMADDUBSW does), so bytes
// are widened to int16 and multiplied with VPMADDWD, exactly: a group's
// four activation bytes are broadcast and zero-extended into Y(8+i), and a
// quarter panel (4 outputs × 4 bytes) sign-extended into Y10. Accumulator
// (i, q) is Y(4i+q), holding two partial sums per output, added pairwise
// at the end.
func genQ256() []byte {
	var a asm
	a.WriteString(header)
	a.WriteString("//go:build !purego\n\n#include \"textflag.h\"\n\n")
	for r := 1; r <= maxRowsQ256; r++ {
		genQ256Kernel(&a, r)
	}
	a.WriteString(`// func minMaxAVX2(x *float32, n int) (lo, hi float32)
TEXT ·minMaxAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y0
	VMOVAPS Y0, Y1
	VMOVUPS 32(SI), Y2
	VMINPS Y2, Y0, Y0
	VMAXPS Y2, Y1, Y1
	ADDQ $64, SI
	SUBQ $16, CX
	JZ mmreduce
mmloop:
	VMOVUPS (SI), Y2
	VMINPS Y2, Y0, Y0
	VMAXPS Y2, Y1, Y1
	VMOVUPS 32(SI), Y2
	VMINPS Y2, Y0, Y0
	VMAXPS Y2, Y1, Y1
	ADDQ $64, SI
	SUBQ $16, CX
	JNZ mmloop
mmreduce:
	VEXTRACTF128 $1, Y0, X2
	VMINPS X2, X0, X0
	VEXTRACTF128 $1, Y1, X3
	VMAXPS X3, X1, X1
	VPERMILPS $0x4E, X0, X2
	VMINPS X2, X0, X0
	VPERMILPS $0x4E, X1, X3
	VMAXPS X3, X1, X1
	VPERMILPS $0xB1, X0, X2
	VMINPS X2, X0, X0
	VPERMILPS $0xB1, X1, X3
	VMAXPS X3, X1, X1
	VMOVSS X0, lo+16(FP)
	VMOVSS X1, hi+20(FP)
	VZEROUPPER
	RET

// func quantAVX2(dst *byte, a *float32, n int, inv float32, z int32)
TEXT ·quantAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS inv+24(FP), Y4
	MOVL z+28(FP), R8
	VMOVD R8, X5
	VPBROADCASTD X5, Y5
qloop:
	VMULPS (SI), Y4, Y0
	VMULPS 32(SI), Y4, Y1
	VCVTPS2DQ Y0, Y0
	VCVTPS2DQ Y1, Y1
	VPADDD Y5, Y0, Y0
	VPADDD Y5, Y1, Y1
	VPACKSSDW Y1, Y0, Y0
	VPERMQ $0xD8, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPACKUSWB X1, X0, X0
	VMOVDQU X0, (DI)
	ADDQ $64, SI
	ADDQ $16, DI
	SUBQ $16, CX
	JNZ qloop
	VZEROUPPER
	RET

`)
	return a.Bytes()
}

func genQ256Kernel(a *asm, rows int) {
	name := qname("q256", rows, 1)
	qheader(a, name)
	qLoadArgs(a)
	a.label("tile")
	a.f("MOVQ a+0(FP), R8")
	a.f("MOVQ R14, R11")
	for i := range rows {
		for q := range 4 {
			y := 4*i + q
			a.f("VPXOR Y%d, Y%d, Y%d", y, y, y)
		}
	}
	a.f("MOVQ SI, CX")
	a.f("SHRQ $2, CX")
	a.label("loop")
	for i := range rows {
		a.f("VPBROADCASTD %s, X%d", rowAddr(i, "R8", "R8", "R9"), 8+i)
		a.f("VPMOVZXBW X%d, Y%d", 8+i, 8+i)
	}
	for q := range 4 {
		a.f("VPMOVSXBW %d(R11), Y10", 16*q)
		for i := range rows {
			a.f("VPMADDWD Y10, Y%d, Y11", 8+i)
			a.f("VPADDD Y11, Y%d, Y%d", 4*i+q, 4*i+q)
		}
	}
	a.f("ADDQ $4, R8")
	a.f("ADDQ $64, R11")
	a.f("DECQ CX")
	a.f("JNZ loop")

	qColumnPointers(a)
	a.f("MOVQ rs+72(FP), R8")
	a.f("MOVQ rc+80(FP), CX")
	for i := range rows {
		v := func(q int) int { return 4*i + q }
		// Pairwise sums: outputs 0-7 into Y(v0), 8-15 into Y(v2).
		a.f("VPHADDD Y%d, Y%d, Y%d", v(1), v(0), v(0))
		a.f("VPERMQ $0xD8, Y%d, Y%d", v(0), v(0))
		a.f("VPHADDD Y%d, Y%d, Y%d", v(3), v(2), v(2))
		a.f("VPERMQ $0xD8, Y%d, Y%d", v(2), v(2))
		a.f("VPBROADCASTD %d(CX), Y12", 4*i)
		a.f("VBROADCASTSS %d(R8), Y13", 4*i)
		for h, y := range []int{v(0), v(2)} {
			a.f("VPMULLD %d(R13), Y12, Y14", 32*h)
			a.f("VPADDD Y14, Y%d, Y%d", y, y)
			a.f("VCVTDQ2PS Y%d, Y%d", y, y)
			a.f("VMULPS %d(R11), Y%d, Y%d", 32*h, y, y)
			a.f("VMULPS Y13, Y%d, Y%d", y, y)
			dst := fmt.Sprintf("%d(DI)", 32*h)
			if i == 1 {
				dst = fmt.Sprintf("%d(DI)(BX*1)", 32*h)
			}
			lbl := fmt.Sprintf("st%d_%d", i, h)
			a.f("TESTQ $1, AX")
			a.f("JZ %s", lbl)
			a.f("VADDPS %s, Y%d, Y%d", dst, y, y)
			a.label(lbl)
			a.f("VMOVUPS Y%d, %s", y, dst)
		}
	}
	advanceTile(a, 1)
	a.f("DECQ DX")
	a.f("JNZ tile")
	a.f("VZEROUPPER")
	a.f("RET")
	a.WriteString("\n")
}

// qGoDecls declares the int8 kernels of an architecture and their table.
func qGoDecls(sets []kernelSet, extra string) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	fmt.Fprintf(&b, "//go:build !purego\n\npackage native\n\n")
	for _, s := range sets {
		for r := 1; r <= s.rows; r++ {
			for c := 1; c <= s.cols; c++ {
				fmt.Fprintf(&b, "//go:noescape\nfunc %s(a *byte, lda int, w *int8, ldp int, kp int, out *float32, ldo int, ntiles int, flags int, rs *float32, rc *int32, cs *float32, csum *int32)\n\n", qname(s.prefix, r, c))
			}
		}
		fmt.Fprintf(&b, "// %sKernels[r-1][c-1] computes r rows by c panels; see qKernel.\nvar %sKernels = [][]qKernel{\n", s.prefix, s.prefix)
		for r := 1; r <= s.rows; r++ {
			b.WriteString("{")
			for c := 1; c <= s.cols; c++ {
				fmt.Fprintf(&b, "%s, ", qname(s.prefix, r, c))
			}
			b.WriteString("},\n")
		}
		b.WriteString("}\n\n")
	}
	b.WriteString(extra)
	src, err := format.Source(b.Bytes())
	if err != nil {
		log.Fatalf("int8 decls: %v\n%s", err, b.Bytes())
	}
	return src
}

const q8x86Prims = `//go:noescape
func minMaxAVX512(x *float32, n int) (lo, hi float32)

//go:noescape
func quantAVX512(dst *byte, a *float32, n int, inv float32, z int32)

//go:noescape
func minMaxAVX2(x *float32, n int) (lo, hi float32)

//go:noescape
func quantAVX2(dst *byte, a *float32, n int, inv float32, z int32)
`

const (
	maxRowsQNEON   = 5
	maxRowsQNEONMS = 2
)

// Encodings of the integer NEON instructions the Go assembler lacks
// (checked against GNU as). d, n, m are V register numbers.
func sdotElem(d, n, m, idx int) string {
	return fmt.Sprintf("WORD $0x%08x", 0x4F80E000|(idx&1)<<21|(idx>>1)<<11|m<<16|n<<5|d)
}
func dupElemS(d, n, idx int) string {
	return fmt.Sprintf("WORD $0x%08x", 0x4E040400|idx<<19|n<<5|d)
}

var (
	smull   = neon3(0x0E20C000) // Vd.8H = Vn.8B × Vm.8B
	smull2  = neon3(0x4E20C000) // Vd.8H = Vn.16B[8:] × Vm.16B[8:]
	addp4s  = neon3(0x4EA0BC00)
	mla4s   = neon3(0x4EA09400)
	fmin4s  = neon3(0x4EA0F400)
	fmax4s  = neon3(0x4E20F400)
	sadalp  = neon2(0x4E606800) // Vd.4S += pairwise(Vn.8H)
	scvtf   = neon2(0x4E21D800)
	fcvtns  = neon2(0x4E21A800)
	fminvS  = neon2(0x6EB0F800)
	fmaxvS  = neon2(0x6E30F800)
	sqxtun  = neon2(0x2E612800)
	sqxtun2 = neon2(0x6E612800)
	uqxtn   = neon2(0x2E214800)
	uqxtn2  = neon2(0x6E214800)
)

// genQNEON writes the arm64 int8 kernels, which read activations in the s8
// form (x − 128): "qdot" tiles of r ≤ 5 rows by one panel with SDOT (the
// dot-product extension), accumulator (i, q) in V(4i+q) for outputs
// 4q..4q+3, the rows' 16 bytes (four groups) in V20..V24 and a group's
// four quarter panels in V25..V28; and "qmul" tiles of r ≤ 2 rows for
// cores without it, which multiply bytes into int16 with SMULL/SMULL2 and
// add pairs into int32 with SADALP, two accumulators per quarter panel
// (V(8i+2q) outputs 4q, 4q+1 and V(8i+2q+1) outputs 4q+2, 4q+3, two partial
// sums each, added pairwise with ADDP at the end).
func genQNEON() []byte {
	var a asm
	a.WriteString(header)
	a.WriteString("//go:build !purego\n\n#include \"textflag.h\"\n\n")
	for r := 1; r <= maxRowsQNEON; r++ {
		genQNEONKernel(&a, r, true)
	}
	for r := 1; r <= maxRowsQNEONMS; r++ {
		genQNEONKernel(&a, r, false)
	}
	genQNEONPrims(&a)
	return a.Bytes()
}

// Registers of the arm64 int8 kernels: R0..R4 rows of a, R5 the panel
// being read, R6 the K counter, R7 tiles left, R8 out, R9 ldo, R10 flags,
// R11 lda, R12 the tile's panel, R13 ldp, R14 cs, R15 csum, R16 rs, R17
// rc, R19 and R20 scratch.
func genQNEONKernel(a *asm, rows int, dot bool) {
	prefix := "qmul"
	if dot {
		prefix = "qdot"
	}
	name := qname(prefix, rows, 1)
	qheader(a, name)
	a.f("MOVD lda+8(FP), R11")
	a.f("MOVD w+16(FP), R12")
	a.f("MOVD ldp+24(FP), R13")
	a.f("MOVD out+40(FP), R8")
	a.f("MOVD ldo+48(FP), R9")
	a.f("MOVD ntiles+56(FP), R7")
	a.f("MOVD flags+64(FP), R10")
	a.f("MOVD rs+72(FP), R16")
	a.f("MOVD rc+80(FP), R17")
	a.f("MOVD cs+88(FP), R14")
	a.f("MOVD csum+96(FP), R15")
	a.label("tile")
	a.f("MOVD a+0(FP), R0")
	for i := 1; i < rows; i++ {
		a.f("ADD R11, R%d, R%d", i-1, i)
	}
	a.f("MOVD R12, R5")
	nacc := 4 * rows
	if !dot {
		nacc = 8 * rows
	}
	for v := range nacc {
		a.f("VEOR V%d.B16, V%d.B16, V%d.B16", v, v, v)
	}
	a.f("MOVD kp+32(FP), R6")
	a.f("LSR $4, R6, R6")
	a.label("loop")
	arow := 20 // first register holding a row's 16 bytes
	if !dot {
		arow = 16
	}
	for i := range rows {
		a.f("VLD1.P 16(R%d), [V%d.B16]", i, arow+i)
	}
	for g := range 4 {
		if dot {
			a.f("VLD1.P 64(R5), [V25.B16, V26.B16, V27.B16, V28.B16]")
			for i := range rows {
				for q := range 4 {
					a.f(sdotElem(4*i+q, 25+q, 20+i, g))
				}
			}
			continue
		}
		a.f("VLD1.P 64(R5), [V20.B16, V21.B16, V22.B16, V23.B16]")
		for i := range rows {
			a.f(dupElemS(18+i, 16+i, g))
		}
		for q := range 4 {
			for i := range rows {
				a.f(smull(24, 20+q, 18+i))
				a.f(smull2(25, 20+q, 18+i))
				a.f(sadalp(8*i+2*q, 24))
				a.f(sadalp(8*i+2*q+1, 25))
			}
		}
	}
	a.f("SUB $1, R6, R6")
	a.f("CBNZ R6, loop")

	// Epilogue: V29 rc[i], V30 rs[i], V31 the loaded operand.
	a.f("MOVD R8, R19")
	for i := range rows {
		if !dot {
			for q := range 4 {
				a.f(addp4s(4*i+q, 8*i+2*q, 8*i+2*q+1))
			}
		}
		a.f("ADD $%d, R17, R20", 4*i)
		a.f("VLD1R (R20), [V29.S4]")
		a.f("ADD $%d, R16, R20", 4*i)
		a.f("VLD1R (R20), [V30.S4]")
		for q := range 4 {
			v := 4*i + q
			a.f("ADD $%d, R15, R20", 16*q)
			a.f("VLD1 (R20), [V31.S4]")
			a.f(mla4s(v, 29, 31))
			a.f(scvtf(v, v))
			a.f("ADD $%d, R14, R20", 16*q)
			a.f("VLD1 (R20), [V31.S4]")
			a.f(fmul(v, v, 31))
			a.f(fmul(v, v, 30))
			a.f("ADD $%d, R19, R20", 16*q)
			lbl := fmt.Sprintf("st%d_%d", i, q)
			a.f("TBZ $0, R10, %s", lbl)
			a.f("VLD1 (R20), [V31.S4]")
			a.f(fadd(v, v, 31))
			a.label(lbl)
			a.f("VST1 [V%d.S4], (R20)", v)
		}
		a.f("ADD R9, R19, R19")
	}
	a.f("ADD R13, R12, R12")
	a.f("ADD $64, R8, R8")
	a.f("ADD $64, R14, R14")
	a.f("ADD $64, R15, R15")
	a.f("SUB $1, R7, R7")
	a.f("CBNZ R7, tile")
	a.f("RET")
	a.WriteString("\n")
}

func genQNEONPrims(a *asm) {
	a.WriteString("// func minMaxNEON(x *float32, n int) (lo, hi float32)\n")
	a.WriteString("TEXT ·minMaxNEON(SB), NOSPLIT, $0-24\n")
	a.f("MOVD x+0(FP), R0")
	a.f("MOVD n+8(FP), R1")
	a.f("VLD1.P 16(R0), [V0.S4]")
	a.f(neonMov(1, 0))
	a.f("SUB $4, R1, R1")
	a.label("mmloop")
	a.f("VLD1.P 16(R0), [V2.S4]")
	a.f(fmin4s(0, 0, 2))
	a.f(fmax4s(1, 1, 2))
	a.f("SUB $4, R1, R1")
	a.f("CBNZ R1, mmloop")
	a.f(fminvS(0, 0))
	a.f(fmaxvS(1, 1))
	a.f("FMOVS F0, lo+16(FP)")
	a.f("FMOVS F1, hi+20(FP)")
	a.f("RET")
	a.WriteString("\n")

	a.WriteString("// func quantNEON(dst *byte, a *float32, n int, inv float32, z int32)\n")
	a.WriteString("// Writes the s8 form: the u8 value xor 0x80.\n")
	a.WriteString("TEXT ·quantNEON(SB), NOSPLIT, $0-32\n")
	a.f("MOVD dst+0(FP), R0")
	a.f("MOVD a+8(FP), R1")
	a.f("MOVD n+16(FP), R2")
	a.f("FMOVS inv+24(FP), F4")
	a.f("VDUP V4.S[0], V4.S4")
	a.f("MOVW z+28(FP), R3")
	a.f("VDUP R3, V5.S4")
	a.f("MOVW $0x80808080, R3")
	a.f("VDUP R3, V6.S4")
	a.label("qloop")
	a.f("VLD1.P 64(R1), [V0.S4, V1.S4, V2.S4, V3.S4]")
	for v := range 4 {
		a.f(fmul(v, v, 4))
		a.f(fcvtns(v, v))
		a.f("VADD V5.S4, V%d.S4, V%d.S4", v, v)
	}
	a.f(sqxtun(0, 0))
	a.f(sqxtun2(0, 1))
	a.f(sqxtun(2, 2))
	a.f(sqxtun2(2, 3))
	a.f(uqxtn(0, 0))
	a.f(uqxtn2(0, 2))
	a.f("VEOR V6.B16, V0.B16, V0.B16")
	a.f("VST1.P [V0.B16], 16(R0)")
	a.f("SUB $16, R2, R2")
	a.f("CBNZ R2, qloop")
	a.f("RET")
	a.WriteString("\n")
}

const q8arm64Prims = `//go:noescape
func minMaxNEON(x *float32, n int) (lo, hi float32)

//go:noescape
func quantNEON(dst *byte, a *float32, n int, inv float32, z int32)
`

// AMX instructions as bytes (the Go assembler has none), with the operands
// genQAMX uses; encodings from GNU as.
var amxOps = map[string]string{
	"ldtilecfg (R8)":             "0xc4, 0xc2, 0x78, 0x49, 0x00",
	"tilerelease":                "0xc4, 0xe2, 0x78, 0x49, 0xc0",
	"tilezero tmm0":              "0xc4, 0xe2, 0x7b, 0x49, 0xc0",
	"tilezero tmm1":              "0xc4, 0xe2, 0x7b, 0x49, 0xc8",
	"tilezero tmm2":              "0xc4, 0xe2, 0x7b, 0x49, 0xd0",
	"tilezero tmm3":              "0xc4, 0xe2, 0x7b, 0x49, 0xd8",
	"tileloadd (R8)(R9), tmm4":   "0xc4, 0x82, 0x7b, 0x4b, 0x24, 0x08",
	"tileloadd (R10)(R9), tmm5":  "0xc4, 0x82, 0x7b, 0x4b, 0x2c, 0x0a",
	"tileloadd (R11)(R12), tmm6": "0xc4, 0x82, 0x7b, 0x4b, 0x34, 0x23",
	"tileloadd (R13)(R12), tmm7": "0xc4, 0x82, 0x7b, 0x4b, 0x7c, 0x25, 0x00",
	"tdpbusd tmm4, tmm6, tmm0":   "0xc4, 0xe2, 0x49, 0x5e, 0xc4",
	"tdpbusd tmm4, tmm7, tmm1":   "0xc4, 0xe2, 0x41, 0x5e, 0xcc",
	"tdpbusd tmm5, tmm6, tmm2":   "0xc4, 0xe2, 0x49, 0x5e, 0xd5",
	"tdpbusd tmm5, tmm7, tmm3":   "0xc4, 0xe2, 0x41, 0x5e, 0xdd",
	"tilestored tmm0, (R8)(R12)": "0xc4, 0x82, 0x7a, 0x4b, 0x04, 0x20",
	"tilestored tmm1, (R8)(R12)": "0xc4, 0x82, 0x7a, 0x4b, 0x0c, 0x20",
	"tilestored tmm2, (R8)(R12)": "0xc4, 0x82, 0x7a, 0x4b, 0x14, 0x20",
	"tilestored tmm3, (R8)(R12)": "0xc4, 0x82, 0x7a, 0x4b, 0x1c, 0x20",
}

func (a *asm) amx(op string) {
	enc, ok := amxOps[op]
	if !ok {
		log.Fatalf("no encoding for %q", op)
	}
	var parts []string
	for _, b := range bytes.Split([]byte(enc), []byte(", ")) {
		parts = append(parts, "BYTE $"+string(b))
	}
	fmt.Fprintf(a, "\t%s // %s\n", joinSemi(parts), op)
}

func joinSemi(p []string) string {
	s := ""
	for i, x := range p {
		if i > 0 {
			s += "; "
		}
		s += x
	}
	return s
}

// amxPrefetch is how many K steps (1 KiB of a panel each) ahead the AMX
// kernels prefetch.
const amxPrefetch = 8

// The argument frame of the AMX kernels (amxKernel in int8_amd64.go).
const amxFrame = "$0-136"

// genQAMX writes the AMX kernels: macro tiles of rb ≤ 2 blocks of up to 16
// activation rows by pc ≤ 2 panels. The tile configuration (built by the
// caller, which sets the rows of each block) holds C tiles tmm0..3 (block
// b, panel j in tmm(2b+j)), the blocks' A tiles in tmm4 and tmm5 (16 rows
// by 64 bytes of K) and the panels' B tiles in tmm6 and tmm7 (16 groups of
// 16 outputs × 4 bytes: 1 KiB of backend.Int8's panel layout, as is).
// TDPBUSD multiplies unsigned activations by signed weights into int32.
// After the K loop the C tiles go to the caller's scratch and the AVX-512
// epilogue (the same as the VNNI kernels') writes out.
func genQAMX() []byte {
	var a asm
	a.WriteString(header)
	a.WriteString("//go:build !purego\n\n#include \"textflag.h\"\n\n")
	for rb := 1; rb <= 2; rb++ {
		for pc := 1; pc <= 2; pc++ {
			genQAMXKernel(&a, rb, pc)
		}
	}
	return a.Bytes()
}

func genQAMXKernel(a *asm, rb, pc int) {
	name := fmt.Sprintf("qamx_%dx%d", rb, pc)
	fmt.Fprintf(a, "// func %s(cfg *byte, a *byte, lda int, w *int8, ldp int, kp int, out *float32, ldo int, ntiles int, flags int, rs *float32, rc *int32, cs *float32, csum *int32, c *int32, r0 int, r1 int)\n", name)
	fmt.Fprintf(a, "TEXT ·%s(SB), NOSPLIT, %s\n", name, amxFrame)
	a.f("MOVQ cfg+0(FP), R8")
	a.amx("ldtilecfg (R8)")
	a.f("MOVQ w+24(FP), R14")
	a.f("MOVQ out+48(FP), DI")
	a.f("MOVQ ldo+56(FP), BX")
	a.f("MOVQ ntiles+64(FP), DX")
	a.f("MOVQ flags+72(FP), AX")
	a.label("tile")
	for t := range 2 * rb {
		if t%2 < pc {
			a.amx(fmt.Sprintf("tilezero tmm%d", t))
		}
	}
	a.f("MOVQ a+8(FP), R8")
	a.f("MOVQ lda+16(FP), R9")
	if rb > 1 {
		a.f("MOVQ R9, R10")
		a.f("SHLQ $4, R10")
		a.f("ADDQ R8, R10")
	}
	a.f("MOVQ R14, R11")
	if pc > 1 {
		a.f("MOVQ R14, R13")
		a.f("ADDQ ldp+32(FP), R13")
	}
	a.f("MOVQ $64, R12")
	a.f("MOVQ kp+40(FP), CX")
	a.f("SHRQ $6, CX")
	a.label("loop")
	a.amx("tileloadd (R8)(R9), tmm4")
	if rb > 1 {
		a.amx("tileloadd (R10)(R9), tmm5")
	}
	a.amx("tileloadd (R11)(R12), tmm6")
	if pc > 1 {
		a.amx("tileloadd (R13)(R12), tmm7")
	}
	// Weights stream from memory (a model's panels outgrow L2): fetch the
	// B rows amxPrefetch groups of 16 ahead, a cache line per row.
	for l := range 16 {
		a.f("PREFETCHT0 %d(R11)", amxPrefetch*1024+64*l)
		if pc > 1 {
			a.f("PREFETCHT0 %d(R13)", amxPrefetch*1024+64*l)
		}
	}
	a.amx("tdpbusd tmm4, tmm6, tmm0")
	if pc > 1 {
		a.amx("tdpbusd tmm4, tmm7, tmm1")
	}
	if rb > 1 {
		a.amx("tdpbusd tmm5, tmm6, tmm2")
		if pc > 1 {
			a.amx("tdpbusd tmm5, tmm7, tmm3")
		}
	}
	a.f("ADDQ $64, R8")
	if rb > 1 {
		a.f("ADDQ $64, R10")
	}
	a.f("ADDQ $1024, R11")
	if pc > 1 {
		a.f("ADDQ $1024, R13")
	}
	a.f("DECQ CX")
	a.f("JNZ loop")
	// C tiles to scratch: tile (b, j) at (b·pc + j)·1 KiB.
	a.f("MOVQ c+112(FP), R8")
	for b := range rb {
		for j := range pc {
			a.amx(fmt.Sprintf("tilestored tmm%d, (R8)(R12)", 2*b+j))
			a.f("ADDQ $1024, R8")
		}
	}
	// Epilogue, block by block, row by row: R8 the row in scratch, R10
	// the row of out, SI rs, R9 rc, R11 cs, R13 csum, CX rows left.
	qColumnPointersAt(a, 8)
	for b := range rb {
		a.f("MOVQ c+112(FP), R8")
		if b > 0 {
			a.f("ADDQ $%d, R8", b*pc*1024)
		}
		a.f("MOVQ rs+80(FP), SI")
		a.f("MOVQ rc+88(FP), R9")
		a.f("MOVQ DI, R10")
		if b > 0 {
			a.f("ADDQ $64, SI")
			a.f("ADDQ $64, R9")
			a.f("MOVQ BX, CX")
			a.f("SHLQ $4, CX")
			a.f("ADDQ CX, R10")
		}
		a.f("MOVQ r%d+%d(FP), CX", b, 120+8*b)
		row := fmt.Sprintf("row%d", b)
		a.label(row)
		a.f("VPBROADCASTD (R9), Z30")
		a.f("VBROADCASTSS (SI), Z31")
		for j := range pc {
			a.f("VMOVDQU32 %d(R8), Z%d", 1024*j, j)
			a.f("VPMULLD %d(R13), Z30, Z28", 64*j)
			a.f("VPADDD Z28, Z%d, Z%d", j, j)
			a.f("VCVTDQ2PS Z%d, Z%d", j, j)
			a.f("VMULPS %d(R11), Z%d, Z%d", 64*j, j, j)
			a.f("VMULPS Z31, Z%d, Z%d", j, j)
			lbl := fmt.Sprintf("st%d_%d", b, j)
			a.f("TESTQ $1, AX")
			a.f("JZ %s", lbl)
			a.f("VADDPS %d(R10), Z%d, Z%d", 64*j, j, j)
			a.label(lbl)
			a.f("VMOVUPS Z%d, %d(R10)", j, 64*j)
		}
		a.f("ADDQ $64, R8")
		a.f("ADDQ $4, SI")
		a.f("ADDQ $4, R9")
		a.f("ADDQ BX, R10")
		a.f("DECQ CX")
		a.f("JNZ %s", row)
	}
	a.f("MOVQ ldp+32(FP), R8")
	for range pc {
		a.f("ADDQ R8, R14")
	}
	a.f("ADDQ $%d, DI", 64*pc)
	a.f("DECQ DX")
	a.f("JNZ tile")
	a.amx("tilerelease")
	a.f("VZEROUPPER")
	a.f("RET")
	a.WriteString("\n")
}

const qAMXDecls = `
//go:noescape
func qamx_1x1(cfg *byte, a *byte, lda int, w *int8, ldp int, kp int, out *float32, ldo int, ntiles int, flags int, rs *float32, rc *int32, cs *float32, csum *int32, c *int32, r0 int, r1 int)

//go:noescape
func qamx_1x2(cfg *byte, a *byte, lda int, w *int8, ldp int, kp int, out *float32, ldo int, ntiles int, flags int, rs *float32, rc *int32, cs *float32, csum *int32, c *int32, r0 int, r1 int)

//go:noescape
func qamx_2x1(cfg *byte, a *byte, lda int, w *int8, ldp int, kp int, out *float32, ldo int, ntiles int, flags int, rs *float32, rc *int32, cs *float32, csum *int32, c *int32, r0 int, r1 int)

//go:noescape
func qamx_2x2(cfg *byte, a *byte, lda int, w *int8, ldp int, kp int, out *float32, ldo int, ntiles int, flags int, rs *float32, rc *int32, cs *float32, csum *int32, c *int32, r0 int, r1 int)

// qamxKernels[rb-1][pc-1] computes rb blocks of rows by pc panels; see amxKernel.
var qamxKernels = [2][2]amxKernel{{qamx_1x1, qamx_1x2}, {qamx_2x1, qamx_2x2}}
`
