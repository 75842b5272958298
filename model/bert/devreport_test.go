//go:build shardreport || lowbitreport

package bert_test

import (
	"context"
	"testing"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/glue"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/model/bert"
)

// devReport is what the accuracy reports run on: wrx-sst2-small's
// directory, all of SST-2 dev, its encodings (128 tokens) and the native
// backend.
type devReport struct {
	dir  string
	ex   []glue.Example
	encs []bert.Encoding
	be   backend.Backend
}

func newDevReport(t *testing.T) *devReport {
	r := &devReport{dir: shared.Path(t, "models", "wrx-sst2-small")}
	data := shared.Path(t, "data", "glue", "SST-2", "dev.tsv")
	var err error
	if r.ex, err = glue.ReadFile(context.Background(), data, glue.SST2, 0); err != nil {
		t.Fatal(err)
	}
	tok, err := bert.LoadTokenizer(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range r.ex {
		enc, err := tok.Encode(e.Text, "", 128)
		if err != nil {
			t.Fatal(err)
		}
		r.encs = append(r.encs, enc)
	}
	if r.be, err = backend.Get("native"); err != nil {
		t.Fatal(err)
	}
	return r
}

// eval runs forward on every sentence and returns the accuracy and the
// logits.
func (r *devReport) eval(t *testing.T, forward func(enc bert.Encoding) ([]float32, error)) (acc float64, logits [][]float32) {
	ok := 0
	for i, enc := range r.encs {
		l, err := forward(enc)
		if err != nil {
			t.Fatal(err)
		}
		if argmax32(l) == r.ex[i].Label {
			ok++
		}
		logits = append(logits, l)
	}
	return float64(ok) / float64(len(r.encs)), logits
}
