package backend

import (
	"strings"
	"testing"
	"unsafe"
)

// TestSetBuffer: the quantized rows, scales and corrections of m rows of k
// columns fit in Int8ActivationsSize(m, k) values without overlapping, and
// a buffer one value short, or bad dimensions, are refused.
func TestSetBuffer(t *testing.T) {
	for _, s := range [][2]int{{0, 0}, {1, 1}, {1, 16}, {3, 17}, {25, 384}, {7, 0}} {
		m, k := s[0], s[1]
		_, kp := Int8Dims(0, k)
		n := Int8ActivationsSize(m, k)
		buf := make([]float32, n+2)
		var x Int8Activations
		if err := x.SetBuffer(buf[1:n+1], m, k); err != nil {
			t.Fatalf("%d×%d: SetBuffer of %d values: %v", m, k, n, err)
		}
		if cap(x.X) != m*kp || cap(x.Scale) != m || cap(x.Corr) != m || x.Form != ActivationsFloat {
			t.Fatalf("%d×%d: capacities %d, %d, %d, form %d; want %d, %d, %d, not quantized", m, k, cap(x.X), cap(x.Scale), cap(x.Corr), x.Form, m*kp, m, m)
		}
		// Every byte of the three, written through its own slice, lands
		// in buf[1:n+1] and in no other of the three.
		owner := map[uintptr]string{}
		mark := func(name string, p unsafe.Pointer, bytes int) {
			for i := range bytes {
				a := uintptr(p) + uintptr(i)
				lo := uintptr(unsafe.Pointer(&buf[1]))
				if a < lo || a >= lo+uintptr(4*n) {
					t.Fatalf("%d×%d: %s byte %d outside the buffer given", m, k, name, i)
				}
				if o, dup := owner[a]; dup {
					t.Fatalf("%d×%d: %s byte %d overlaps %s", m, k, name, i, o)
				}
				owner[a] = name
			}
		}
		if m*kp > 0 {
			mark("X", unsafe.Pointer(unsafe.SliceData(x.X[:m*kp])), m*kp)
		}
		if m > 0 {
			mark("Scale", unsafe.Pointer(unsafe.SliceData(x.Scale[:m])), 4*m)
			mark("Corr", unsafe.Pointer(unsafe.SliceData(x.Corr[:m])), 4*m)
		}
		if n > 0 {
			if err := x.SetBuffer(buf[:n-1], m, k); err == nil || !strings.Contains(err.Error(), "buffer of") {
				t.Errorf("%d×%d: SetBuffer of %d values, %d needed: err = %v", m, k, n-1, n, err)
			}
		}
	}
	var x Int8Activations
	for _, s := range [][2]int{{-1, 4}, {2, -1}, {1, MaxInt8K + 1}} {
		if err := x.SetBuffer(make([]float32, 64), s[0], s[1]); err == nil {
			t.Errorf("SetBuffer(%d×%d) accepted", s[0], s[1])
		}
	}
}
