//go:build !purego

package native

import "golang.org/x/sys/cpu"

// simdKernelSets lists the kernel families this CPU runs. Every ARMv8-A
// core has Advanced SIMD, but the check keeps exotic configurations safe.
func simdKernelSets() []*kernelSet {
	if !cpu.ARM64.HasASIMD {
		return nil
	}
	return []*kernelSet{{name: "neon", kern: dotNEONKernels[:], kPad: 1, elem: neonElemOps}}
}

// int8KernelSets lists the int8 kernel families this CPU runs, fastest
// first.
func int8KernelSets() []*int8KernelSet {
	if !cpu.ARM64.HasASIMD {
		return nil
	}
	var sets []*int8KernelSet
	if cpu.ARM64.HasASIMDDP {
		sets = append(sets, &int8KernelSet{name: "neondot", signed: true, kern: qdotKernels, minMax: minMaxNEON, quant: quantNEON})
	}
	return append(sets, &int8KernelSet{name: "neon", signed: true, kern: qmulKernels, minMax: minMaxNEON, quant: quantNEON})
}

// int4Variants is empty: arm64 has no in-register 4-bit kernels yet (the
// 4-bit products go through scratch and the int8 kernels).
func int4Variants() []q4Variant { return nil }

// int4Expanders is empty: no vector 4-bit expanders here.
func int4Expanders() map[string]func(dst *int8, src *byte, n int, tab *int8) { return nil }

// packedKernelSets is empty: no packed float32 kernels here (the packed
// product runs in Go, and PacksFloat32 reports false).
func packedKernelSets() []*packedKernelSet { return nil }
