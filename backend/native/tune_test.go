package native

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTune compares blocking parameters, interleaved and best-of-rounds so
// that load from other processes affects every variant alike. It is a
// development aid: set WRX_TUNE=1 to run it.
func TestTune(t *testing.T) {
	if os.Getenv("WRX_TUNE") == "" {
		t.Skip("set WRX_TUNE=1")
	}
	th, _ := strconv.Atoi(os.Getenv("TH"))
	kcs := []int{768, 1536}
	if s := os.Getenv("KCS"); s != "" {
		kcs = nil
		for _, f := range strings.Split(s, ",") {
			v, _ := strconv.Atoi(f)
			kcs = append(kcs, v)
		}
	}
	shapes := [][3]int{{128, 768, 3072}, {128, 1536, 384}, {128, 3072, 768}, {32, 3072, 768}, {8, 3072, 768}, {1, 3072, 768}, {128, 384, 384}}
	be := New(Options{Threads: th})
	wbs := []int{wBlockBytes >> 10}
	if s := os.Getenv("WBS"); s != "" {
		wbs = nil
		for _, f := range strings.Split(s, ",") {
			v, _ := strconv.Atoi(f)
			wbs = append(wbs, v)
		}
	}
	type variant struct{ kc, wb int }
	var vs []variant
	for _, kc := range kcs {
		for _, wb := range wbs {
			vs = append(vs, variant{kc, wb})
		}
	}
	defer func(v, w int) { kcMax, wBlockBytes = v, w }(kcMax, wBlockBytes)
	for _, s := range shapes {
		m, k, n := s[0], s[1], s[2]
		r := rand.New(rand.NewPCG(5, 6))
		a, w, out := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
		best := make([]time.Duration, len(vs))
		for rep := 0; rep < 15; rep++ {
			for i, v := range vs {
				kcMax, wBlockBytes = v.kc, v.wb<<10
				st := time.Now()
				it := 0
				for time.Since(st) < 3*time.Millisecond {
					be.MatMulT(out, a, w, m, k, n, false)
					it++
				}
				d := time.Since(st) / time.Duration(it)
				if best[i] == 0 || d < best[i] {
					best[i] = d
				}
			}
		}
		line := fmt.Sprintf("%dx%dx%d:", m, k, n)
		for i, v := range vs {
			line += fmt.Sprintf("  kc=%d,wb=%d %.1f", v.kc, v.wb, 2*float64(m*k*n)/best[i].Seconds()/1e9)
		}
		t.Log(line)
	}
}
