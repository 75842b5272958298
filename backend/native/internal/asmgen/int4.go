package main

import (
	"bytes"
	"fmt"
	"go/format"
	"log"
)

// The 4-bit kernels multiply activation rows quantized to bytes (as the
// int8 kernels do) with panels of backend.Int4 codes, expanded to int8 in
// registers: one 64-byte load of codes holds two consecutive groups of a
// panel (low nibbles the first, high nibbles the second), and a byte
// shuffle through the 16-entry table, broadcast to every 128-bit lane,
// turns each nibble into its int8 weight. The products, sums and epilogue
// are then the int8 kernels' (genQ512), so the results are bit-identical to
// multiplying the equivalent Int8 matrix.
//
// Two expansions: "shuf" (AVX-512 BW) masks the nibbles and looks them up
// with VPSHUFB, which reads an index's low 4 bits but zeroes the byte when
// bit 7 is set; "perm" (AVX-512 VBMI) looks up the unmasked bytes with
// VPERMB, which reads the low 6 bits of an index across the whole
// register: with the table repeated in every lane, bits 4 and 5 do not
// matter, so no mask is needed (3 vector operations per 128 weights
// instead of 5).

// The argument frame of the 4-bit kernels (q4Kernel in int4.go): qKernel's
// and the table pointer.
const q4frame = "$0-112"

const (
	maxRowsQ4 = 4
	maxColsQ4 = 4
)

// genQ4 writes the AVX-512 4-bit kernels of both expansions, and the
// vector expanders the scratch path uses (unpack4AVX512, unpack4VBMI,
// unpack4AVX2).
func genQ4() []byte {
	var a asm
	a.WriteString(header)
	a.WriteString("//go:build !purego\n\n#include \"textflag.h\"\n\n")
	for _, perm := range []bool{false, true} {
		for r := 1; r <= maxRowsQ4; r++ {
			for c := 1; c <= maxColsQ4; c++ {
				genQ4Kernel(&a, r, c, perm)
			}
		}
	}
	a.WriteString(`// func unpack4AVX512(dst *int8, src *byte, n int, tab *int8)
TEXT ·unpack4AVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ tab+24(FP), R8
	VBROADCASTI32X4 (R8), Z24
	MOVL $0x0f0f0f0f, R8
	VPBROADCASTD R8, Z25
u512loop:
	VPANDD (SI), Z25, Z0
	VPSRLW $4, (SI), Z1
	VPANDD Z25, Z1, Z1
	VPSHUFB Z0, Z24, Z0
	VPSHUFB Z1, Z24, Z1
	VMOVDQU64 Z0, (DI)
	VMOVDQU64 Z1, 64(DI)
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $64, CX
	JNZ u512loop
	VZEROUPPER
	RET

// func unpack4VBMI(dst *int8, src *byte, n int, tab *int8)
TEXT ·unpack4VBMI(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ tab+24(FP), R8
	VBROADCASTI32X4 (R8), Z24
uvbmiloop:
	VMOVDQU64 (SI), Z1
	VPERMB Z24, Z1, Z0
	VPSRLW $4, Z1, Z1
	VPERMB Z24, Z1, Z1
	VMOVDQU64 Z0, (DI)
	VMOVDQU64 Z1, 64(DI)
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $64, CX
	JNZ uvbmiloop
	VZEROUPPER
	RET

// func unpack4AVX2(dst *int8, src *byte, n int, tab *int8)
TEXT ·unpack4AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ tab+24(FP), R8
	VBROADCASTI128 (R8), Y14
	MOVL $0x0f0f0f0f, R8
	VMOVD R8, X15
	VPBROADCASTD X15, Y15
u256loop:
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y2
	VPSRLW $4, Y0, Y1
	VPSRLW $4, Y2, Y3
	VPAND Y15, Y0, Y0
	VPAND Y15, Y1, Y1
	VPAND Y15, Y2, Y2
	VPAND Y15, Y3, Y3
	VPSHUFB Y0, Y14, Y0
	VPSHUFB Y1, Y14, Y1
	VPSHUFB Y2, Y14, Y2
	VPSHUFB Y3, Y14, Y3
	VMOVDQU Y0, (DI)
	VMOVDQU Y2, 32(DI)
	VMOVDQU Y1, 64(DI)
	VMOVDQU Y3, 96(DI)
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $64, CX
	JNZ u256loop
	VZEROUPPER
	RET

`)
	return a.Bytes()
}

// genQ4Kernel writes one 4-bit kernel: tiles of rows ≤ 4 activation rows by
// cols ≤ 4 panels. Accumulator (i, j) is Z(4i+j); panel j's two current
// groups are expanded into Z(16+2j) and Z(17+2j); Z24 holds the table,
// Z25 the nibble mask; rows are broadcast into Z28/Z29. The K loop steps
// 16 columns (two 64-byte loads of codes per panel) at a time.
func genQ4Kernel(a *asm, rows, cols int, perm bool) {
	prefix := "q4shuf"
	if perm {
		prefix = "q4perm"
	}
	name := qname(prefix, rows, cols)
	fmt.Fprintf(a, "// func %s(a *byte, lda int, w *byte, ldp int, kp int, out *float32, ldo int, ntiles int, flags int, rs *float32, rc *int32, cs *float32, csum *int32, tab *int8)\n", name)
	fmt.Fprintf(a, "TEXT ·%s(SB), NOSPLIT, %s\n", name, q4frame)
	qLoadArgs(a)
	a.f("MOVQ tab+104(FP), R8")
	a.f("VBROADCASTI32X4 (R8), Z24")
	if !perm {
		a.f("MOVL $0x0f0f0f0f, R8")
		a.f("VPBROADCASTD R8, Z25")
	}
	q512TileStart(a, rows, cols)
	for h := range 2 { // two 64-byte loads of codes: groups 2h and 2h+1
		for j := range cols {
			src := addrDisp(64*h, j, "R11", "R13", "R12")
			lo, hi := 16+2*j, 17+2*j
			if perm {
				a.f("VMOVDQU64 %s, Z%d", src, hi)
				a.f("VPERMB Z24, Z%d, Z%d", hi, lo)
				a.f("VPSRLW $4, Z%d, Z%d", hi, hi)
				a.f("VPERMB Z24, Z%d, Z%d", hi, hi)
			} else {
				a.f("VPANDD %s, Z25, Z%d", src, lo)
				a.f("VPSRLW $4, %s, Z%d", src, hi)
				a.f("VPANDD Z25, Z%d, Z%d", hi, hi)
				a.f("VPSHUFB Z%d, Z24, Z%d", lo, lo)
				a.f("VPSHUFB Z%d, Z24, Z%d", hi, hi)
			}
		}
		for g := range 2 {
			for i := range rows {
				t := 28 + i%2
				a.f("VPBROADCASTD %s, Z%d", addrDisp(4*(2*h+g), i, "R8", "R10", "R9"), t)
				for j := range cols {
					a.f("VPDPBUSD Z%d, Z%d, Z%d", 16+2*j+g, t, 4*i+j)
				}
			}
		}
	}
	a.f("ADDQ $16, R8")
	if rows > 3 {
		a.f("ADDQ $16, R10")
	}
	a.f("ADDQ $128, R11")
	if cols > 3 {
		a.f("ADDQ $128, R13")
	}
	a.f("DECQ CX")
	a.f("JNZ loop")

	q512Epilogue(a, rows, cols)
}

// q4GoDecls writes the Go declarations of the 4-bit kernels and expanders.
func q4GoDecls() []byte {
	var b bytes.Buffer
	b.WriteString(header)
	fmt.Fprintf(&b, "//go:build !purego\n\npackage native\n\n")
	for _, prefix := range []string{"q4shuf", "q4perm"} {
		for r := 1; r <= maxRowsQ4; r++ {
			for c := 1; c <= maxColsQ4; c++ {
				fmt.Fprintf(&b, "//go:noescape\nfunc %s(a *byte, lda int, w *byte, ldp int, kp int, out *float32, ldo int, ntiles int, flags int, rs *float32, rc *int32, cs *float32, csum *int32, tab *int8)\n\n", qname(prefix, r, c))
			}
		}
		fmt.Fprintf(&b, "// %sKernels[r-1][c-1] computes r rows by c panels; see q4Kernel.\nvar %sKernels = [][]q4Kernel{\n", prefix, prefix)
		for r := 1; r <= maxRowsQ4; r++ {
			b.WriteString("{")
			for c := 1; c <= maxColsQ4; c++ {
				fmt.Fprintf(&b, "%s, ", qname(prefix, r, c))
			}
			b.WriteString("},\n")
		}
		b.WriteString("}\n\n")
	}
	b.WriteString(`//go:noescape
func unpack4AVX512(dst *int8, src *byte, n int, tab *int8)

//go:noescape
func unpack4VBMI(dst *int8, src *byte, n int, tab *int8)

//go:noescape
func unpack4AVX2(dst *int8, src *byte, n int, tab *int8)
`)
	src, err := format.Source(b.Bytes())
	if err != nil {
		log.Fatalf("int4 decls: %v\n%s", err, b.Bytes())
	}
	return src
}
