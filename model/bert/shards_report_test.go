//go:build shardreport

package bert_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
)

// TestShardReport measures, on all of SST-2 dev, the accuracy of
// wrx-sst2-small with every shard decoded from a blob at one fidelity, as
// the elastic executor streams them, on the float32 path and on the
// integer one (UseInt8), paired: the labels the two paths disagree on and
// the mean |Δlogit| between them. It only runs with the build tag
// shardreport (go test -tags shardreport -run TestShardReport -v
// ./model/bert): a report of a few minutes that asserts nothing but that
// every variant runs.
func TestShardReport(t *testing.T) {
	r := newDevReport(t)
	ctx := context.Background()
	eval := func(m *bert.Model, int8 bool) (float64, [][]float32) {
		return r.eval(t, func(enc bert.Encoding) ([]float32, error) {
			p := bert.NewPass(r.be, m.Config, len(enc.InputIDs))
			p.UseInt8(int8)
			return m.ForwardWith(ctx, p, enc.InputIDs, enc.TokenTypeIDs)
		})
	}
	fmt.Printf("SST-2 dev, %d sentences, wrx-sst2-small, every shard at one fidelity\n", len(r.encs))
	fmt.Printf("%5s %9s %9s %7s %11s\n", "bits", "float32", "integer", "agree%", "mean|Δlogit|")
	for _, f := range []quant.Fidelity{quant.Bits2, quant.Bits3, quant.Bits4, quant.Bits5, quant.Bits6, quant.Bits8, quant.FP32} {
		m, err := bert.Load(r.dir, bert.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		encodeShards(t, m, f)
		fAcc, fl := eval(m, false)
		iAcc, il := eval(m, true)
		agree, dl := 0, 0.0
		for i := range fl {
			if argmax32(fl[i]) == argmax32(il[i]) {
				agree++
			}
			for j := range fl[i] {
				dl += math.Abs(float64(fl[i][j] - il[i][j]))
			}
		}
		fmt.Printf("%5d %9.4f %9.4f %7.2f %11.4f\n", f, fAcc, iAcc, 100*float64(agree)/float64(len(fl)), dl/float64(len(fl)*len(fl[0])))
	}
}
