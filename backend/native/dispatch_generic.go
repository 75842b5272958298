//go:build purego || !(amd64 || arm64)

package native

// simdKernelSets is empty: this build has no assembly kernels.
func simdKernelSets() []*kernelSet { return nil }

// int8KernelSets is empty: this build has no assembly kernels.
func int8KernelSets() []*int8KernelSet { return nil }

// int4Variants is empty: this build has no assembly kernels.
func int4Variants() []q4Variant { return nil }

// int4Expanders is empty: no vector 4-bit expanders here.
func int4Expanders() map[string]func(dst *int8, src *byte, n int, tab *int8) { return nil }

// packedKernelSets is empty: no packed float32 kernels here (the packed
// product runs in Go, and PacksFloat32 reports false).
func packedKernelSets() []*packedKernelSet { return nil }
