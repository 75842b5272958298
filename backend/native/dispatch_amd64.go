//go:build !purego

package native

import "golang.org/x/sys/cpu"

// simdKernelSets lists the kernel families this CPU runs, fastest first.
// x/sys/cpu also checks that the OS saves the wide registers.
func simdKernelSets() []*kernelSet {
	var sets []*kernelSet
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL {
		sets = append(sets, &kernelSet{name: "avx512", kern: dot512Kernels[:], kPad: 1, elem: avx512ElemOps})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		sets = append(sets, &kernelSet{name: "avx2", kern: dot256Kernels[:], kPad: 8, elem: avx2ElemOps})
	}
	return sets
}

// packedKernelSets lists the packed float32 kernel families this CPU
// runs, fastest first.
func packedKernelSets() []*packedKernelSet {
	var sets []*packedKernelSet
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL {
		sets = append(sets, &packedKernelSet{name: "avx512", kern: pk512Table(), rows: pk512Rows, cols: pk512Cols})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		sets = append(sets, &packedKernelSet{name: "avx2", kern: pk256Table(), rows: 6, cols: 1})
	}
	return sets
}

// The tile shape of the AVX-512 packed kernels for full panel groups.
var pk512Rows, pk512Cols = 8, 3

// pk512Table and pk256Table turn the generated kernel tables into rows
// of slices.
func pk512Table() [][]packedKernel {
	s := make([][]packedKernel, len(pk512Kernels))
	for i := range pk512Kernels {
		s[i] = pk512Kernels[i][:]
	}
	return s
}

func pk256Table() [][]packedKernel {
	s := make([][]packedKernel, len(pk256Kernels))
	for i := range pk256Kernels {
		s[i] = pk256Kernels[i][:]
	}
	return s
}

var avx512ElemOps = elemOps{
	add: func(x, b []float32) {
		if len(x) > 0 {
			addAVX512(&x[0], &b[0], len(x))
		}
	},
	gelu: func(x []float32) {
		if len(x) > 0 {
			geluAVX512(&x[0], len(x))
		}
	},
	softmaxRow: func(row []float32) {
		softmaxRowWith(row, maxAVX512, expSubSumAVX512, scaleAVX512)
	},
	softmaxRows: func(x []float32, rows, cols int) {
		if len(x) > 0 {
			softmaxRowsAVX512(&x[0], rows, cols)
		}
	},
	layerNorm: func(row, gamma, beta []float32, eps float32) {
		layerNormWith(row, gamma, beta, eps, sumAVX512, sumSqDevAVX512, lnApplyAVX512)
	},
}

var avx2ElemOps = vecPrims{
	width:     8,
	add:       addAVX2,
	gelu:      geluAVX2,
	max:       maxAVX2,
	expSubSum: expSubSumAVX2,
	scale:     scaleAVX2,
	sum:       sumAVX2,
	sumSqDev:  sumSqDevAVX2,
	lnApply:   lnApplyAVX2,
}.ops()

// int8KernelSets lists the int8 kernel families this CPU runs, fastest
// first.
func int8KernelSets() []*int8KernelSet {
	var sets []*int8KernelSet
	// The 4-bit kernels expand codes with VPERMB where AVX-512 VBMI has
	// it (no nibble mask needed), else with VPSHUFB (AVX-512 BW, which
	// every VNNI CPU has).
	k4, n4, u4 := q4shufKernels, "avx512bw", unpack4AVX512
	if cpu.X86.HasAVX512VBMI {
		k4, n4, u4 = q4permKernels, "avx512vbmi", unpack4VBMI
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI && cpu.X86.HasAMXTile && cpu.X86.HasAMXInt8 && amxPermitted() {
		sets = append(sets, &int8KernelSet{name: "amx", kern: q512Kernels, minMax: minMaxAVX512, quant: quantAVX512, amx: &qamxKernels,
			kern4: k4, name4: n4, unpack4: u4})
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI {
		sets = append(sets, &int8KernelSet{name: "avx512vnni", kern: q512Kernels, minMax: minMaxAVX512, quant: quantAVX512,
			kern4: k4, name4: n4, unpack4: u4})
	}
	if cpu.X86.HasAVX2 {
		sets = append(sets, &int8KernelSet{name: "avx2", kern: q256Kernels, minMax: minMaxAVX2, quant: quantAVX2, unpack4: unpack4AVX2})
	}
	return sets
}

// int4Variants lists the in-register 4-bit kernel families this CPU runs,
// so that tests and benchmarks can try each.
func int4Variants() []q4Variant {
	var vs []q4Variant
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW {
		vs = append(vs, q4Variant{"avx512bw", q4shufKernels})
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VBMI {
		vs = append(vs, q4Variant{"avx512vbmi", q4permKernels})
	}
	return vs
}

// int4Expanders lists the vector 4-bit expanders this CPU runs, by name,
// so that tests can check each.
func int4Expanders() map[string]func(dst *int8, src *byte, n int, tab *int8) {
	m := map[string]func(dst *int8, src *byte, n int, tab *int8){}
	if cpu.X86.HasAVX2 {
		m["avx2"] = unpack4AVX2
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW {
		m["avx512bw"] = unpack4AVX512
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VBMI {
		m["avx512vbmi"] = unpack4VBMI
	}
	return m
}
