//go:build !purego

package native

import (
	"math"
	"unsafe"

	"golang.org/x/sys/cpu"
)

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
	layerNorm: func(row, gamma, beta []float32, eps float32) {
		layerNormWith(row, gamma, beta, eps, sumAVX512, sumSqDevAVX512, lnApplyAVX512)
	},
}

var avx2ElemOps = elemOps{
	add: func(x, b []float32) {
		n := len(x) &^ 7
		if n > 0 {
			addAVX2(&x[0], &b[0], n)
		}
		b = b[:len(x)]
		for i := n; i < len(x); i++ {
			x[i] += b[i]
		}
	},
	gelu: func(x []float32) {
		n := len(x) &^ 7
		if n > 0 {
			geluAVX2(&x[0], n)
		}
		if t := x[n:]; len(t) > 0 {
			var buf [8]float32
			copy(buf[:], t)
			geluAVX2(&buf[0], 8)
			copy(t, buf[:])
		}
	},
	softmaxRow: func(row []float32) {
		softmaxRowWith(row, maxAVX2Tail, expSubSumAVX2Tail, scaleAVX2Tail)
	},
	layerNorm: func(row, gamma, beta []float32, eps float32) {
		layerNormWith(row, gamma, beta, eps, sumAVX2Tail, sumSqDevAVX2Tail, lnApplyAVX2Tail)
	},
}

// The ...Tail wrappers run an AVX2 kernel on the multiple-of-8 prefix and
// again on the tail copied into a block of 8 padded with a neutral value.

func maxAVX2Tail(p *float32, n int) float32 {
	n8 := n &^ 7
	m := float32(math.Inf(-1))
	if n8 > 0 {
		m = maxAVX2(p, n8)
	}
	if n8 < n {
		buf := [8]float32{m, m, m, m, m, m, m, m}
		copy(buf[:], unsafe.Slice(p, n)[n8:])
		m = maxAVX2(&buf[0], 8)
	}
	return m
}

func expSubSumAVX2Tail(p *float32, n int, m float32) float32 {
	n8 := n &^ 7
	var s float32
	if n8 > 0 {
		s = expSubSumAVX2(p, n8, m)
	}
	if n8 < n {
		inf := float32(math.Inf(-1)) // e^-Inf adds 0 to the sum
		buf := [8]float32{inf, inf, inf, inf, inf, inf, inf, inf}
		t := unsafe.Slice(p, n)[n8:]
		copy(buf[:], t)
		s += expSubSumAVX2(&buf[0], 8, m)
		copy(t, buf[:])
	}
	return s
}

func scaleAVX2Tail(p *float32, n int, s float32) {
	n8 := n &^ 7
	if n8 > 0 {
		scaleAVX2(p, n8, s)
	}
	for i, v := range unsafe.Slice(p, n)[n8:] {
		unsafe.Slice(p, n)[n8+i] = v * s
	}
}

func sumAVX2Tail(p *float32, n int) float32 {
	n8 := n &^ 7
	var s float32
	if n8 > 0 {
		s = sumAVX2(p, n8)
	}
	if n8 < n {
		var buf [8]float32
		copy(buf[:], unsafe.Slice(p, n)[n8:])
		s += sumAVX2(&buf[0], 8)
	}
	return s
}

func sumSqDevAVX2Tail(p *float32, n int, mean float32) float32 {
	n8 := n &^ 7
	var s float32
	if n8 > 0 {
		s = sumSqDevAVX2(p, n8, mean)
	}
	if n8 < n {
		m := mean // deviations of 0 add nothing
		buf := [8]float32{m, m, m, m, m, m, m, m}
		copy(buf[:], unsafe.Slice(p, n)[n8:])
		s += sumSqDevAVX2(&buf[0], 8, mean)
	}
	return s
}

func lnApplyAVX2Tail(x, g, b *float32, n int, mean, inv float32) {
	n8 := n &^ 7
	if n8 > 0 {
		lnApplyAVX2(x, g, b, n8, mean, inv)
	}
	xs, gs, bs := unsafe.Slice(x, n), unsafe.Slice(g, n), unsafe.Slice(b, n)
	for i := n8; i < n; i++ {
		xs[i] = (xs[i]-mean)*inv*gs[i] + bs[i]
	}
}
