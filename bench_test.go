package wrx_test

import (
	"context"
	"testing"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/backend"
	_ "github.com/wrxlabs/wrx/backend/gorgonia"
	_ "github.com/wrxlabs/wrx/backend/native"
	"github.com/wrxlabs/wrx/glue"
	"github.com/wrxlabs/wrx/internal/shared"
)

// BenchmarkClassify classifies SST-2 dev sentences with wrx-sst2-small on
// every registered backend, one sentence per op, cycling through the dev
// set so that sentence lengths are those of real inputs:
//
//	go test -run XXX -bench BenchmarkClassify -benchtime 200x .
func BenchmarkClassify(b *testing.B) {
	dir := shared.Path(b, "models", "wrx-sst2-small")
	data := shared.Path(b, "data", "glue", "SST-2", "dev.tsv")
	ctx := context.Background()
	examples, err := glue.ReadFile(ctx, data, glue.SST2, 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range backend.Names() {
		b.Run(name, func(b *testing.B) {
			c, err := wrx.Open(ctx, dir, wrx.Options{Backend: name})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			ops, tokens := 0, 0
			for b.Loop() {
				p, err := c.Classify(ctx, examples[ops%len(examples)].Text)
				if err != nil {
					b.Fatal(err)
				}
				ops++
				tokens += p.Tokens
			}
			secs := b.Elapsed().Seconds()
			b.ReportMetric(secs*1e3/float64(ops), "ms/op")
			b.ReportMetric(float64(tokens)/secs, "tokens/s")
		})
	}
}
