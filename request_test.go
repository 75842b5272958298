package wrx_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/model/synth"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/storage"
)

// TestRequestTargetNeedsPipeline: a request target is refused, with a
// reason, by a classifier that holds its model in memory, and a negative
// one by any.
func TestRequestTargetNeedsPipeline(t *testing.T) {
	ctx := context.Background()
	name := "request-target"
	t.Cleanup(func() { storage.DeleteMem(name) })
	if _, err := wrx.Synthesize(ctx, "mem:"+name, wrx.SynthOptions{Like: synth.Tiny, Fidelities: []quant.Fidelity{32}, NoImportance: true}); err != nil {
		t.Fatal(err)
	}
	c, err := wrx.Open(ctx, "mem:"+name, wrx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Target() != 0 {
		t.Errorf("Target() = %v for a model held in memory", c.Target())
	}
	for _, tc := range []struct {
		target time.Duration
		msg    string
	}{
		{10 * time.Millisecond, "needs the elastic pipeline"},
		{-time.Millisecond, "negative"},
	} {
		_, err := c.ClassifyPairWith(ctx, "some text", "", wrx.RequestOptions{Target: tc.target})
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("target %v: error %v, want one saying %q", tc.target, err, tc.msg)
		}
	}
	if _, err := c.ClassifyPairWith(ctx, "some text", "", wrx.RequestOptions{}); err != nil {
		t.Errorf("no request target: %v", err)
	}
}
