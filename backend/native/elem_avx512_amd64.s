//go:build !purego

#include "textflag.h"

// AVX-512 versions of the float32 formulas in elem32.go. Tails are handled
// with masked loads and stores, so no byte outside x[:n] is touched.

DATA e512<>+0(SB)/4, $0x3fb8aa3b  // log2e
DATA e512<>+4(SB)/4, $0x3f318000  // ln2hi
DATA e512<>+8(SB)/4, $0xb95e8083  // ln2lo
DATA e512<>+12(SB)/4, $0x39506967 // c0
DATA e512<>+16(SB)/4, $0x3ab743ce // c1
DATA e512<>+20(SB)/4, $0x3c088908 // c2
DATA e512<>+24(SB)/4, $0x3d2aa9c1 // c3
DATA e512<>+28(SB)/4, $0x3e2aaaaa // c4
DATA e512<>+32(SB)/4, $0x3f000000 // c5 = 0.5
DATA e512<>+36(SB)/4, $0x3f800000 // 1
DATA e512<>+40(SB)/4, $0xc2f00000 // -120: e^w is then 0 after VSCALEFPS
DATA e512<>+44(SB)/4, $0x3f3504f3 // 1/√2
DATA e512<>+48(SB)/4, $0x3ea7ba05 // erf p
DATA e512<>+52(SB)/4, $0x3e827906 // erf a1
DATA e512<>+56(SB)/4, $0xbe91a98e // erf a2
DATA e512<>+60(SB)/4, $0x3fb5f0e3 // erf a3
DATA e512<>+64(SB)/4, $0xbfba00e3 // erf a4
DATA e512<>+68(SB)/4, $0x3f87dc22 // erf a5
DATA e512<>+72(SB)/4, $0x80000000 // sign bit
DATA e512<>+76(SB)/4, $0x41800000 // GELU clamp 16
DATA e512<>+80(SB)/4, $0xff800000 // -Inf
GLOBL e512<>(SB), RODATA|NOPTR, $84

// Constants live in Z16-Z31 (and Z15) for the whole call.
#define LOADCONST \
	VBROADCASTSS e512<>+0(SB), Z16 \
	VBROADCASTSS e512<>+4(SB), Z17 \
	VBROADCASTSS e512<>+8(SB), Z18 \
	VBROADCASTSS e512<>+12(SB), Z19 \
	VBROADCASTSS e512<>+16(SB), Z20 \
	VBROADCASTSS e512<>+20(SB), Z21 \
	VBROADCASTSS e512<>+24(SB), Z22 \
	VBROADCASTSS e512<>+28(SB), Z23 \
	VBROADCASTSS e512<>+32(SB), Z24 \
	VBROADCASTSS e512<>+36(SB), Z25 \
	VBROADCASTSS e512<>+40(SB), Z26

// EXP computes P = e^W for W ≤ 0 (W is clobbered; N, R are scratch).
#define EXP(W, N, R, P) \
	VMAXPS Z26, W, W \
	VMULPS Z16, W, N \
	VRNDSCALEPS $0, N, N \
	VFNMADD231PS Z17, N, W \
	VFNMADD231PS Z18, N, W \
	VMOVAPS Z19, P \
	VFMADD213PS Z20, W, P \
	VFMADD213PS Z21, W, P \
	VFMADD213PS Z22, W, P \
	VFMADD213PS Z23, W, P \
	VFMADD213PS Z24, W, P \
	VMULPS W, W, R \
	VFMADD213PS W, R, P \
	VADDPS Z25, P, P \
	VSCALEFPS N, P, P

// GELU computes Z8 = gelu(Z0) using Z1-Z7, Z9 (Z9 must be zero).
#define GELU \
	VPANDND Z0, Z27, Z1 \
	VMULPS Z28, Z1, Z1 \
	VMOVAPS Z25, Z2 \
	VFMADD231PS Z29, Z1, Z2 \
	VDIVPS Z2, Z25, Z2 \
	VMOVAPS Z14, Z3 \
	VFMADD213PS Z13, Z2, Z3 \
	VFMADD213PS Z12, Z2, Z3 \
	VFMADD213PS Z11, Z2, Z3 \
	VFMADD213PS Z10, Z2, Z3 \
	VMULPS Z2, Z3, Z3 \
	VMULPS Z1, Z1, Z4 \
	VPXORD Z27, Z4, Z4 \
	EXP(Z4, Z5, Z6, Z7) \
	VMULPS Z7, Z3, Z3 \
	VMINPS Z30, Z0, Z8 \
	VMAXPS Z31, Z8, Z8 \
	VMULPS Z24, Z8, Z8 \
	VMULPS Z3, Z8, Z8 \
	VCMPPS $0x1D, Z9, Z0, K3 \
	VSUBPS Z8, Z0, K3, Z8

// func geluAVX512(x *float32, n int)
TEXT ·geluAVX512(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	LOADCONST
	VBROADCASTSS e512<>+52(SB), Z10
	VBROADCASTSS e512<>+56(SB), Z11
	VBROADCASTSS e512<>+60(SB), Z12
	VBROADCASTSS e512<>+64(SB), Z13
	VBROADCASTSS e512<>+68(SB), Z14
	VBROADCASTSS e512<>+72(SB), Z27
	VBROADCASTSS e512<>+44(SB), Z28
	VBROADCASTSS e512<>+48(SB), Z29
	VBROADCASTSS e512<>+76(SB), Z30
	VPXORD Z31, Z31, Z31
	VSUBPS Z30, Z31, Z31
	VPXORD Z9, Z9, Z9
	MOVQ CX, DX
	SHRQ $4, DX
	JZ gelutail

geluloop:
	VMOVUPS (SI), Z0
	GELU
	VMOVUPS Z8, (SI)
	ADDQ $64, SI
	DECQ DX
	JNZ geluloop

gelutail:
	ANDQ $15, CX
	JZ geludone
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z0
	GELU
	VMOVUPS Z8, K1, (SI)

geludone:
	VZEROUPPER
	RET

// HMAX reduces Z0 to its largest element in X0.
#define HMAX \
	VEXTRACTF64X4 $1, Z0, Y1 \
	VMAXPS Y1, Y0, Y0 \
	VEXTRACTF128 $1, Y0, X1 \
	VMAXPS X1, X0, X0 \
	VPERMILPS $0x4E, X0, X1 \
	VMAXPS X1, X0, X0 \
	VPERMILPS $0xB1, X0, X1 \
	VMAXPS X1, X0, X0

// HSUM reduces Z0 to the sum of its elements in X0.
#define HSUM \
	VEXTRACTF64X4 $1, Z0, Y1 \
	VADDPS Y1, Y0, Y0 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VPERMILPS $0x4E, X0, X1 \
	VADDPS X1, X0, X0 \
	VPERMILPS $0xB1, X0, X1 \
	VADDPS X1, X0, X0

// TAILMASK sets K1 to the low CX&15 bits and CX to CX&15.
#define TAILMASK \
	ANDQ $15, CX \
	MOVL $1, AX \
	SHLL CX, AX \
	DECL AX \
	KMOVW AX, K1

// func maxAVX512(x *float32, n int) float32
TEXT ·maxAVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS e512<>+80(SB), Z0
	VMOVAPS Z0, Z2
	MOVQ CX, DX
	SHRQ $4, DX
	JZ maxtail

maxloop:
	VMAXPS (SI), Z0, Z0
	ADDQ $64, SI
	DECQ DX
	JNZ maxloop

maxtail:
	TAILMASK
	JZ maxdone
	VMOVUPS (SI), K1, Z2
	VMAXPS Z2, Z0, Z0

maxdone:
	HMAX
	MOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func expSubSumAVX512(x *float32, n int, m float32) float32
// x[i] = e^(x[i]-m); returns the sum.
TEXT ·expSubSumAVX512(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Z9
	LOADCONST
	VPXORD Z8, Z8, Z8
	MOVQ CX, DX
	SHRQ $4, DX
	JZ exptail

exploop:
	VMOVUPS (SI), Z0
	VSUBPS Z9, Z0, Z0
	EXP(Z0, Z1, Z2, Z3)
	VMOVUPS Z3, (SI)
	VADDPS Z3, Z8, Z8
	ADDQ $64, SI
	DECQ DX
	JNZ exploop

exptail:
	TAILMASK
	JZ expdone
	VMOVUPS.Z (SI), K1, Z0
	VSUBPS Z9, Z0, Z0
	EXP(Z0, Z1, Z2, Z3)
	VMOVUPS Z3, K1, (SI)
	VADDPS Z3, Z8, K1, Z8

expdone:
	VMOVAPS Z8, Z0
	HSUM
	MOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func scaleAVX512(x *float32, n int, s float32)
TEXT ·scaleAVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Z9
	MOVQ CX, DX
	SHRQ $4, DX
	JZ scaletail

scaleloop:
	VMULPS (SI), Z9, Z0
	VMOVUPS Z0, (SI)
	ADDQ $64, SI
	DECQ DX
	JNZ scaleloop

scaletail:
	TAILMASK
	JZ scaledone
	VMOVUPS.Z (SI), K1, Z0
	VMULPS Z9, Z0, Z0
	VMOVUPS Z0, K1, (SI)

scaledone:
	VZEROUPPER
	RET

// func sumAVX512(x *float32, n int) float32
TEXT ·sumAVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z2, Z2, Z2
	MOVQ CX, DX
	SHRQ $4, DX
	JZ sumtail

sumloop:
	VADDPS (SI), Z0, Z0
	ADDQ $64, SI
	DECQ DX
	JNZ sumloop

sumtail:
	TAILMASK
	JZ sumdone
	VMOVUPS.Z (SI), K1, Z2
	VADDPS Z2, Z0, Z0

sumdone:
	HSUM
	MOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func sumSqDevAVX512(x *float32, n int, mean float32) float32
// Returns Σ (x[i]-mean)².
TEXT ·sumSqDevAVX512(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS mean+16(FP), Z9
	VPXORD Z0, Z0, Z0
	MOVQ CX, DX
	SHRQ $4, DX
	JZ sqtail

sqloop:
	VMOVUPS (SI), Z2
	VSUBPS Z9, Z2, Z2
	VFMADD231PS Z2, Z2, Z0
	ADDQ $64, SI
	DECQ DX
	JNZ sqloop

sqtail:
	TAILMASK
	JZ sqdone
	VMOVUPS.Z (SI), K1, Z2
	VSUBPS Z9, Z2, K1, Z2
	VFMADD231PS Z2, Z2, Z0

sqdone:
	HSUM
	MOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func lnApplyAVX512(x, gamma, beta *float32, n int, mean, inv float32)
// x[i] = (x[i]-mean)·inv·gamma[i] + beta[i].
TEXT ·lnApplyAVX512(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ gamma+8(FP), DI
	MOVQ beta+16(FP), R8
	MOVQ n+24(FP), CX
	VBROADCASTSS mean+32(FP), Z9
	VBROADCASTSS inv+36(FP), Z10
	MOVQ CX, DX
	SHRQ $4, DX
	JZ lntail

lnloop:
	VMOVUPS (SI), Z0
	VSUBPS Z9, Z0, Z0
	VMULPS Z10, Z0, Z0
	VMOVUPS (R8), Z1
	VFMADD231PS (DI), Z0, Z1
	VMOVUPS Z1, (SI)
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, R8
	DECQ DX
	JNZ lnloop

lntail:
	TAILMASK
	JZ lndone
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z (DI), K1, Z2
	VMOVUPS.Z (R8), K1, Z1
	VSUBPS Z9, Z0, Z0
	VMULPS Z10, Z0, Z0
	VFMADD231PS Z2, Z0, Z1
	VMOVUPS Z1, K1, (SI)

lndone:
	VZEROUPPER
	RET

// func addAVX512(x, b *float32, n int)
// x[i] += b[i].
TEXT ·addAVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ CX, DX
	SHRQ $6, DX
	JZ add16

add64:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS 128(SI), Z2
	VMOVUPS 192(SI), Z3
	VADDPS (DI), Z0, Z0
	VADDPS 64(DI), Z1, Z1
	VADDPS 128(DI), Z2, Z2
	VADDPS 192(DI), Z3, Z3
	VMOVUPS Z0, (SI)
	VMOVUPS Z1, 64(SI)
	VMOVUPS Z2, 128(SI)
	VMOVUPS Z3, 192(SI)
	ADDQ $256, SI
	ADDQ $256, DI
	DECQ DX
	JNZ add64

add16:
	MOVQ CX, DX
	ANDQ $63, DX
	SHRQ $4, DX
	JZ addtail

add16loop:
	VMOVUPS (SI), Z0
	VADDPS (DI), Z0, Z0
	VMOVUPS Z0, (SI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ DX
	JNZ add16loop

addtail:
	TAILMASK
	JZ adddone
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z (DI), K1, Z1
	VADDPS Z1, Z0, Z0
	VMOVUPS Z0, K1, (SI)

adddone:
	VZEROUPPER
	RET

// func softmaxRowsAVX512(x *float32, rows, cols int)
// Each of the rows rows of cols values becomes e^(x−max)/Σ, computed as
// maxAVX512, expSubSumAVX512 and scaleAVX512 do it one after the other
// (bit for bit, 1/Σ by one float32 division); a row whose largest value
// is −Inf is cleared. One call for a whole block of short rows: the
// three calls per row cost more than the row itself at BERT's attention
// lengths.
TEXT ·softmaxRowsAVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ rows+8(FP), R8
	MOVQ cols+16(FP), R9
	TESTQ R8, R8
	JZ smdone
	TESTQ R9, R9
	JZ smdone
	LOADCONST
	VBROADCASTSS e512<>+80(SB), Z15
	MOVQ R9, CX
	TAILMASK
	MOVQ CX, R10
	MOVQ R9, R11
	SHRQ $4, R11

smrow:
	VMOVAPS Z15, Z0
	MOVQ DI, SI
	MOVQ R11, DX
	TESTQ DX, DX
	JZ smmaxtail

smmaxloop:
	VMAXPS (SI), Z0, Z0
	ADDQ $64, SI
	DECQ DX
	JNZ smmaxloop

smmaxtail:
	TESTQ R10, R10
	JZ smmaxdone
	VMOVAPS Z15, Z2
	VMOVUPS (SI), K1, Z2
	VMAXPS Z2, Z0, Z0

smmaxdone:
	HMAX
	VUCOMISS X15, X0
	JPS smexp
	JNE smexp
	VPXORD Z0, Z0, Z0
	MOVQ DI, SI
	MOVQ R11, DX
	TESTQ DX, DX
	JZ smcleartail

smclearloop:
	VMOVUPS Z0, (SI)
	ADDQ $64, SI
	DECQ DX
	JNZ smclearloop

smcleartail:
	TESTQ R10, R10
	JZ smnext
	VMOVUPS Z0, K1, (SI)
	JMP smnext

smexp:
	VBROADCASTSS X0, Z9
	VPXORD Z8, Z8, Z8
	MOVQ DI, SI
	MOVQ R11, DX
	TESTQ DX, DX
	JZ smexptail

smexploop:
	VMOVUPS (SI), Z0
	VSUBPS Z9, Z0, Z0
	EXP(Z0, Z1, Z2, Z3)
	VMOVUPS Z3, (SI)
	VADDPS Z3, Z8, Z8
	ADDQ $64, SI
	DECQ DX
	JNZ smexploop

smexptail:
	TESTQ R10, R10
	JZ smexpdone
	VMOVUPS.Z (SI), K1, Z0
	VSUBPS Z9, Z0, Z0
	EXP(Z0, Z1, Z2, Z3)
	VMOVUPS Z3, K1, (SI)
	VADDPS Z3, Z8, K1, Z8

smexpdone:
	VMOVAPS Z8, Z0
	HSUM
	VDIVSS X0, X25, X1
	VBROADCASTSS X1, Z9
	MOVQ DI, SI
	MOVQ R11, DX
	TESTQ DX, DX
	JZ smscaletail

smscaleloop:
	VMULPS (SI), Z9, Z0
	VMOVUPS Z0, (SI)
	ADDQ $64, SI
	DECQ DX
	JNZ smscaleloop

smscaletail:
	TESTQ R10, R10
	JZ smnext
	VMOVUPS.Z (SI), K1, Z0
	VMULPS Z9, Z0, Z0
	VMOVUPS Z0, K1, (SI)

smnext:
	LEAQ (DI)(R9*4), DI
	DECQ R8
	JNZ smrow

smdone:
	VZEROUPPER
	RET
