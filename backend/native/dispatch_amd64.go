//go:build !purego

package native

import "golang.org/x/sys/cpu"

// simdKernelSets lists the kernel families this CPU runs, fastest first.
// x/sys/cpu also checks that the OS saves the wide registers.
func simdKernelSets() []*kernelSet {
	var sets []*kernelSet
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL {
		sets = append(sets, &kernelSet{name: "avx512", kern: dot512Kernels[:], kPad: 1})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		sets = append(sets, &kernelSet{name: "avx2", kern: dot256Kernels[:], kPad: 8})
	}
	return sets
}
