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
func int8KernelSets() []*int8KernelSet { return nil }
