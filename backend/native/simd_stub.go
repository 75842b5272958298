package native

// matMulSIMD is unreachable until the assembly kernels land: haveSIMD is
// false, so New never sets simd.
func (b *Backend) matMulSIMD(out, a, w []float32, m, k, n int, acc bool) {
	panic("native: no SIMD kernels in this build")
}
