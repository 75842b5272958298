//go:build !purego

package native

// Elementwise kernels in elem_avx512_amd64.s and elem_avx2_amd64.s. Each
// takes a pointer and a count; see elem32.go for the formulas.

//go:noescape
func geluAVX512(x *float32, n int)

//go:noescape
func maxAVX512(x *float32, n int) float32

//go:noescape
func expSubSumAVX512(x *float32, n int, m float32) float32

//go:noescape
func scaleAVX512(x *float32, n int, s float32)

// softmaxRowsAVX512 is Softmax of rows×cols values in one call.
//
//go:noescape
func softmaxRowsAVX512(x *float32, rows, cols int)

//go:noescape
func sumAVX512(x *float32, n int) float32

//go:noescape
func sumSqDevAVX512(x *float32, n int, mean float32) float32

//go:noescape
func lnApplyAVX512(x, gamma, beta *float32, n int, mean, inv float32)

// The AVX2 kernels take n a multiple of 8.

//go:noescape
func geluAVX2(x *float32, n int)

//go:noescape
func maxAVX2(x *float32, n int) float32

//go:noescape
func expSubSumAVX2(x *float32, n int, m float32) float32

//go:noescape
func scaleAVX2(x *float32, n int, s float32)

//go:noescape
func sumAVX2(x *float32, n int) float32

//go:noescape
func sumSqDevAVX2(x *float32, n int, mean float32) float32

//go:noescape
func lnApplyAVX2(x, gamma, beta *float32, n int, mean, inv float32)

//go:noescape
func addAVX512(x, b *float32, n int)

//go:noescape
func addAVX2(x, b *float32, n int)
