package main

import "fmt"

// Encodings of the NEON instructions (arrangement 4S) the Go assembler does
// not know. d, n, m are V register numbers.
func neon3(base uint32) func(d, n, m int) string {
	return func(d, n, m int) string {
		return fmt.Sprintf("WORD $0x%08x", base|uint32(m)<<16|uint32(n)<<5|uint32(d))
	}
}

func neon2(base uint32) func(d, n int) string {
	return func(d, n int) string { return fmt.Sprintf("WORD $0x%08x", base|uint32(n)<<5|uint32(d)) }
}

var (
	fadd    = neon3(0x4E20D400)
	fsub    = neon3(0x4EA0D400)
	fmul    = neon3(0x6E20DC00)
	fdiv    = neon3(0x6E20FC00)
	fmaxv   = neon3(0x4E20F400)
	fminv   = neon3(0x4EA0F400)
	fcmge   = neon3(0x6E20E400)
	fmaxp   = neon3(0x6E20F400)
	faddp   = neon3(0x6E20D400)
	fcmgez  = neon2(0x6EA0C800)
	frintn  = neon2(0x4E218800)
	fcvtzs  = neon2(0x4EA1B800)
	fabsv   = neon2(0x4EA0F800)
	fnegv   = neon2(0x6EA0F800)
	neonMov = func(d, n int) string { return fmt.Sprintf("VORR V%d.B16, V%d.B16, V%d.B16", n, n, d) }
)

// Constant registers of the NEON elementwise kernels.
const (
	vLog2e, vLn2hi, vLn2lo = 16, 17, 18
	vC0                    = 19 // c0..c5 in V19..V24
	vOne, vLo, vBias       = 25, 26, 27
	vInvSqrt2, vErfP       = 28, 29
	vClamp, vNegClamp      = 30, 31
	vA1                    = 10 // a1..a5 in V10..V14
)

// neonConsts are the float32 bit patterns loaded into the constant
// registers, in the order of the table neonK.
var neonConsts = []struct {
	reg  int
	bits uint32
	what string
}{
	{vLog2e, 0x3fb8aa3b, "log2e"}, {vLn2hi, 0x3f318000, "ln2hi"}, {vLn2lo, 0xb95e8083, "ln2lo"},
	{vC0, 0x39506967, "c0"}, {vC0 + 1, 0x3ab743ce, "c1"}, {vC0 + 2, 0x3c088908, "c2"},
	{vC0 + 3, 0x3d2aa9c1, "c3"}, {vC0 + 4, 0x3e2aaaaa, "c4"}, {vC0 + 5, 0x3f000000, "c5 = 0.5"},
	{vOne, 0x3f800000, "1"}, {vLo, 0xc2aeac50, "ln(2^-126)"}, {vBias, 127, "exponent bias"},
	{vInvSqrt2, 0x3f3504f3, "1/sqrt2"}, {vErfP, 0x3ea7ba05, "erf p"},
	{vClamp, 0x41800000, "16"}, {vNegClamp, 0xc1800000, "-16"},
	{vA1, 0x3e827906, "erf a1"}, {vA1 + 1, 0xbe91a98e, "erf a2"}, {vA1 + 2, 0x3fb5f0e3, "erf a3"},
	{vA1 + 3, 0xbfba00e3, "erf a4"}, {vA1 + 4, 0x3f87dc22, "erf a5"},
	{0, 0xff800000, "-Inf (loaded where needed)"},
}

// genNEONElem writes the NEON versions of the formulas in elem32.go. Every
// function takes n a multiple of 4; the Go wrappers handle tails.
func genNEONElem() []byte {
	var a asm
	a.WriteString(header)
	a.WriteString("//go:build !purego\n\n#include \"textflag.h\"\n\n")
	for i, c := range neonConsts {
		fmt.Fprintf(&a, "DATA neonK<>+%d(SB)/4, $0x%08x // %s\n", 4*i, c.bits, c.what)
	}
	fmt.Fprintf(&a, "GLOBL neonK<>(SB), RODATA|NOPTR, $%d\n\n", 4*len(neonConsts))

	loadConsts := func(upTo int) {
		a.f("MOVD $neonK<>(SB), R9")
		for _, c := range neonConsts[:upTo] {
			a.f("VLD1R.P 4(R9), [V%d.S4]", c.reg)
		}
	}
	// exp writes e^W into P for W ≤ 0 (0 below ln(2⁻¹²⁶)); W is clobbered.
	exp := func(w, n, r, p, m, t int) {
		a.f(fcmge(m, w, vLo))
		a.f(fmaxv(w, w, vLo))
		a.f(fmul(n, w, vLog2e))
		a.f(frintn(n, n))
		a.f("VFMLS V%d.S4, V%d.S4, V%d.S4", vLn2hi, n, w)
		a.f("VFMLS V%d.S4, V%d.S4, V%d.S4", vLn2lo, n, w)
		a.f(neonMov(p, vC0))
		cur, other := p, r
		for i := 1; i <= 5; i++ {
			a.f(neonMov(other, vC0+i))
			a.f("VFMLA V%d.S4, V%d.S4, V%d.S4", w, cur, other) // other += cur·w
			cur, other = other, cur
		}
		// cur holds the polynomial; result = cur·w² + w + 1.
		a.f(fmul(other, w, w))
		a.f(fadd(t, w, vOne))
		a.f("VFMLA V%d.S4, V%d.S4, V%d.S4", other, cur, t)
		a.f(fcvtzs(n, n))
		a.f("VADD V%d.S4, V%d.S4, V%d.S4", vBias, n, n)
		a.f("VSHL $23, V%d.S4, V%d.S4", n, n)
		a.f(fmul(p, t, n))
		a.f("VAND V%d.B16, V%d.B16, V%d.B16", m, p, p)
	}
	loop := func(name string, body func()) {
		a.f("LSR $2, R1, R1")
		a.f("CBZ R1, %sdone", name)
		a.label(name + "loop")
		body()
		a.f("SUB $1, R1, R1")
		a.f("CBNZ R1, %sloop", name)
		a.label(name + "done")
	}
	text := func(sig, frame string) {
		fmt.Fprintf(&a, "// func %s\nTEXT ·%s(SB), NOSPLIT, %s\n", sig, sig[:len(sig)-len(sig[indexOf(sig, '('):])], frame)
	}

	text("addNEON(x, b *float32, n int)", "$0-24")
	a.f("MOVD x+0(FP), R0")
	a.f("MOVD b+8(FP), R2")
	a.f("MOVD n+16(FP), R1")
	loop("add", func() {
		a.f("VLD1 (R0), [V0.S4]")
		a.f("VLD1.P 16(R2), [V1.S4]")
		a.f(fadd(0, 0, 1))
		a.f("VST1.P [V0.S4], 16(R0)")
	})
	a.f("RET\n")

	text("geluNEON(x *float32, n int)", "$0-16")
	a.f("MOVD x+0(FP), R0")
	a.f("MOVD n+8(FP), R1")
	loadConsts(len(neonConsts) - 1)
	loop("gelu", func() {
		a.f("VLD1 (R0), [V0.S4]")
		a.f(fabsv(1, 0))
		a.f(fmul(1, 1, vInvSqrt2))
		a.f(neonMov(2, vOne))
		a.f("VFMLA V%d.S4, V1.S4, V2.S4", vErfP)
		a.f(fdiv(2, vOne, 2))
		a.f(neonMov(3, vA1+4))
		for i, dst := 3, 4; i >= 0; i-- {
			src := 7 - dst
			a.f(neonMov(dst, vA1+i))
			a.f("VFMLA V2.S4, V%d.S4, V%d.S4", src, dst)
			dst = src
		}
		// The polynomial a1 + t·(a2 + …) ends in V3; multiply by t.
		a.f(fmul(3, 3, 2))
		a.f(fmul(4, 1, 1))
		a.f(fnegv(4, 4))
		exp(4, 5, 6, 7, 8, 9)
		a.f(fmul(3, 3, 7))
		a.f(fminv(9, 0, vClamp))
		a.f(fmaxv(9, 9, vNegClamp))
		a.f(fmul(9, 9, vC0+5))
		a.f(fmul(9, 9, 3))
		a.f(fsub(5, 0, 9))
		a.f(fcmgez(6, 0))
		a.f("VBIT V6.B16, V5.B16, V9.B16")
		a.f("VST1.P [V9.S4], 16(R0)")
	})
	a.f("RET\n")

	// hreduce folds V0's four lanes with op into lane 0 (F0).
	hreduce := func(op func(d, n, m int) string) {
		a.f(op(0, 0, 0))
		a.f(op(0, 0, 0))
	}
	negInf := 4 * (len(neonConsts) - 1)

	text("maxNEON(x *float32, n int) float32", "$0-20")
	a.f("MOVD x+0(FP), R0")
	a.f("MOVD n+8(FP), R1")
	a.f("MOVD $neonK<>+%d(SB), R9", negInf)
	a.f("VLD1R (R9), [V0.S4]")
	loop("max", func() {
		a.f("VLD1.P 16(R0), [V1.S4]")
		a.f(fmaxv(0, 0, 1))
	})
	hreduce(fmaxp)
	a.f("FMOVS F0, ret+16(FP)")
	a.f("RET\n")

	text("expSubSumNEON(x *float32, n int, m float32) float32", "$0-28")
	a.f("MOVD x+0(FP), R0")
	a.f("MOVD n+8(FP), R1")
	a.f("FMOVS m+16(FP), F15")
	a.f("VDUP V15.S[0], V15.S4")
	loadConsts(12)
	a.f("VEOR V10.B16, V10.B16, V10.B16")
	loop("exp", func() {
		a.f("VLD1 (R0), [V0.S4]")
		a.f(fsub(0, 0, 15))
		exp(0, 1, 2, 3, 4, 5)
		a.f("VST1.P [V3.S4], 16(R0)")
		a.f(fadd(10, 10, 3))
	})
	a.f(neonMov(0, 10))
	hreduce(faddp)
	a.f("FMOVS F0, ret+24(FP)")
	a.f("RET\n")

	text("scaleNEON(x *float32, n int, s float32)", "$0-20")
	a.f("MOVD x+0(FP), R0")
	a.f("MOVD n+8(FP), R1")
	a.f("FMOVS s+16(FP), F15")
	a.f("VDUP V15.S[0], V15.S4")
	loop("scale", func() {
		a.f("VLD1 (R0), [V0.S4]")
		a.f(fmul(0, 0, 15))
		a.f("VST1.P [V0.S4], 16(R0)")
	})
	a.f("RET\n")

	text("sumNEON(x *float32, n int) float32", "$0-20")
	a.f("MOVD x+0(FP), R0")
	a.f("MOVD n+8(FP), R1")
	a.f("VEOR V0.B16, V0.B16, V0.B16")
	loop("sum", func() {
		a.f("VLD1.P 16(R0), [V1.S4]")
		a.f(fadd(0, 0, 1))
	})
	hreduce(faddp)
	a.f("FMOVS F0, ret+16(FP)")
	a.f("RET\n")

	text("sumSqDevNEON(x *float32, n int, mean float32) float32", "$0-28")
	a.f("MOVD x+0(FP), R0")
	a.f("MOVD n+8(FP), R1")
	a.f("FMOVS mean+16(FP), F15")
	a.f("VDUP V15.S[0], V15.S4")
	a.f("VEOR V0.B16, V0.B16, V0.B16")
	loop("sq", func() {
		a.f("VLD1.P 16(R0), [V1.S4]")
		a.f(fsub(1, 1, 15))
		a.f("VFMLA V1.S4, V1.S4, V0.S4")
	})
	hreduce(faddp)
	a.f("FMOVS F0, ret+24(FP)")
	a.f("RET\n")

	text("lnApplyNEON(x, gamma, beta *float32, n int, mean, inv float32)", "$0-40")
	a.f("MOVD x+0(FP), R0")
	a.f("MOVD gamma+8(FP), R2")
	a.f("MOVD beta+16(FP), R3")
	a.f("MOVD n+24(FP), R1")
	a.f("FMOVS mean+32(FP), F15")
	a.f("VDUP V15.S[0], V15.S4")
	a.f("FMOVS inv+36(FP), F14")
	a.f("VDUP V14.S[0], V14.S4")
	loop("ln", func() {
		a.f("VLD1 (R0), [V0.S4]")
		a.f("VLD1.P 16(R2), [V1.S4]")
		a.f("VLD1.P 16(R3), [V2.S4]")
		a.f(fsub(0, 0, 15))
		a.f(fmul(0, 0, 14))
		a.f("VFMLA V1.S4, V0.S4, V2.S4")
		a.f("VST1.P [V2.S4], 16(R0)")
	})
	a.f("RET\n")
	return a.Bytes()
}

func indexOf(s string, c byte) int {
	for i := range len(s) {
		if s[i] == c {
			return i
		}
	}
	return len(s)
}
