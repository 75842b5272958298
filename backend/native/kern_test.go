package native

import (
	"os"
	"testing"
	"time"
)

func TestKernelPeak(t *testing.T) {
	if os.Getenv("WRX_TUNE") == "" {
		t.Skip("set WRX_TUNE=1")
	}
	for _, k := range []int{64, 256, 384, 768, 1024} {
		for _, ks := range simdKernelSets() {
			rm := len(ks.kern)
			a := make([]float32, rm*k)
			w := make([]float32, 4*k)
			out := make([]float32, rm*4)
			best := time.Hour
			for rep := 0; rep < 20; rep++ {
				st := time.Now()
				for range 2000 {
					ks.kern[rm-1][3](&a[0], k*4, &w[0], k*4, k, &out[0], 16, 1, 0)
				}
				best = min(best, time.Since(st)/2000)
			}
			t.Logf("%s %dx4 k=%d: %.1f GFLOP/s", ks.name, rm, k, float64(2*rm*4*k)/best.Seconds()/1e9)
		}
	}
}
