//go:build quantreport

package quant

import (
	"fmt"
	"testing"
	"time"
)

// TestReport measures every codec on the head-shard matrices of
// wrx-sst2-small: bytes per weight, mean relative error, decode cost, and
// the outlier-threshold sweep behind
// DefaultOutlierSigma. It is built only with the tag quantreport (see
// scripts/quant-report) because it takes tens of seconds: a report, not
// a check, it would otherwise be a test that always skips. It prints
// measurements and asserts only that every blob decodes.
func TestReport(t *testing.T) {
	mats := loadShardMatrices(t)
	var weights int
	for _, m := range mats {
		weights += len(m.w)
	}
	fmt.Printf("wrx-sst2-small: %d head-shard matrices, %d weights\n\n", len(mats), weights)

	type variant struct {
		name   string
		encode func(w []float32, n, k int) ([]byte, error)
	}
	var vs []variant
	for _, f := range AllFidelities() {
		vs = append(vs, variant{f.String(), func(w []float32, n, k int) ([]byte, error) {
			return Encode(w, n, k, f, EncodeOptions{})
		}})
		if f == Bits8 {
			vs = append(vs, variant{"8-dict", func(w []float32, n, k int) ([]byte, error) {
				return encodeDict8(w, n, k, EncodeOptions{})
			}}, variant{"8-linear", encodeLinear8})
		}
	}
	fmt.Printf("%-9s %7s %10s %8s %11s %11s %9s\n",
		"fidelity", "B/w", "rel.err", "outl.%", "dec ns/w", "rows ns/w", "enc s")
	for _, v := range vs {
		var bytes, outl int
		var errSum float64
		var encDur, dec, rows time.Duration
		for _, m := range mats {
			t0 := time.Now()
			blob, err := v.encode(m.w, m.n, m.k)
			encDur += time.Since(t0)
			if err != nil {
				t.Fatalf("%s at %s: %v", m.name, v.name, err)
			}
			bytes += len(blob)
			d, r, mat := timeDecode(t, blob, m)
			dec += d
			rows += r
			errSum += RelativeError(m.w, mat)
			outl += mat.nOut
		}
		nw := float64(weights)
		ns := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / nw }
		fmt.Printf("%-9s %7.4f %10.6f %8.3f %11.3f %11.3f %9.2f\n",
			v.name, float64(bytes)/nw, errSum/float64(len(mats)), 100*float64(outl)/nw,
			ns(dec), ns(rows), encDur.Seconds())
	}
	fmt.Println(`
B/w: blob bytes per weight (headers included); rel.err: mean over matrices
of ‖W−Ŵ‖/‖W‖; outl.%: weights kept exactly; dec: Decode (validation);
rows: Decode plus DecodeRows of every row in 32-row tiles (both the best of
7 runs per matrix); enc s: Encode of all matrices.`)

	fmt.Printf("\noutlier threshold sweep (dictionary codecs): B/w and mean rel.err\n%-6s", "sigma")
	sigmas := []float64{3, 3.5, 4, 5, 100}
	for _, s := range sigmas {
		fmt.Printf(" %20s", fmt.Sprintf("c=%g", s))
	}
	fmt.Println()
	for _, f := range []Fidelity{Bits2, Bits3, Bits4, Bits5, Bits6, Bits8} {
		fmt.Printf("%-6s", f)
		for _, s := range sigmas {
			var bytes int
			var errSum float64
			for _, m := range mats {
				blob, err := encodeDictAt(m.w, m.n, m.k, f, EncodeOptions{OutlierSigma: s})
				if err != nil {
					t.Fatal(err)
				}
				mat, err := Decode(blob)
				if err != nil {
					t.Fatal(err)
				}
				bytes += len(blob)
				errSum += RelativeError(m.w, mat)
			}
			fmt.Printf(" %8.4f / %9.6f", float64(bytes)/float64(weights), errSum/float64(len(mats)))
		}
		fmt.Println()
	}
}

const reps = 7

// timeDecode returns the fastest of reps Decodes of blob, and the fastest of
// reps Decodes each followed by DecodeRows over the whole matrix in 32-row
// tiles, as backend.MatMul reads it. The minimum filters out the other
// processes sharing the machine.
func timeDecode(t *testing.T, blob []byte, m shardMatrix) (dec, rows time.Duration, mat *Matrix) {
	t.Helper()
	var err error
	dec, rows = time.Hour, time.Hour
	tile := make([]float32, 32*m.k)
	for range reps {
		t0 := time.Now()
		if mat, err = Decode(blob); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		dec = min(dec, time.Since(t0))
		t0 = time.Now()
		mat, _ = Decode(blob)
		for r0 := 0; r0 < m.n; r0 += 32 {
			mat.DecodeRows(tile, r0, min(m.n, r0+32))
		}
		rows = min(rows, time.Since(t0))
	}
	return dec, rows, mat
}
