//go:build shardreport

package bert_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/glue"
	"github.com/wrxlabs/wrx/internal/shared"
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
	dir := shared.Path(t, "models", "wrx-sst2-small")
	data := shared.Path(t, "data", "glue", "SST-2", "dev.tsv")
	ctx := context.Background()
	ex, err := glue.ReadFile(ctx, data, glue.SST2, 0)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := bert.LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	var encs []bert.Encoding
	for _, e := range ex {
		enc, err := tok.Encode(e.Text, "", 128)
		if err != nil {
			t.Fatal(err)
		}
		encs = append(encs, enc)
	}
	be, err := backend.Get("native")
	if err != nil {
		t.Fatal(err)
	}
	eval := func(m *bert.Model, int8 bool) (acc float64, logits [][]float32) {
		ok := 0
		for i, enc := range encs {
			p := bert.NewPass(be, m.Config, len(enc.InputIDs))
			p.UseInt8(int8)
			l, err := m.ForwardWith(ctx, p, enc.InputIDs, enc.TokenTypeIDs)
			if err != nil {
				t.Fatal(err)
			}
			if argmax32(l) == ex[i].Label {
				ok++
			}
			logits = append(logits, l)
		}
		return float64(ok) / float64(len(encs)), logits
	}
	fmt.Printf("SST-2 dev, %d sentences, wrx-sst2-small, every shard at one fidelity\n", len(encs))
	fmt.Printf("%5s %9s %9s %7s %11s\n", "bits", "float32", "integer", "agree%", "mean|Δlogit|")
	for _, f := range []quant.Fidelity{quant.Bits2, quant.Bits3, quant.Bits4, quant.Bits5, quant.Bits6, quant.Bits8, quant.FP32} {
		m, err := bert.Load(dir, bert.LoadOptions{})
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
