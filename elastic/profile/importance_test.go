package profile_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/backend/native"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// convertFixture converts a fixture model into a fresh in-memory store at
// every fidelity and returns the opened store and its URI.
func convertFixture(t *testing.T, rel string) (*shardstore.Store, string) {
	t.Helper()
	_, s, uri := storetest.Fixture(t, rel)
	return s, uri
}

// A single-threaded backend starts no helper goroutines, so goroutine
// counts before and after a call compare cleanly.
func testBackend() backend.Backend { return native.New(native.Options{Threads: 1}) }

var profileExamples = []profile.Example{
	{Line: 1, Text: "a gripping, beautifully acted film", Label: 1},
	{Line: 2, Text: "dull and far too long", Label: 0},
	{Line: 3, Text: "the plot makes no sense at all , and the jokes fall flat", Label: 0},
	{Line: 4, Text: "one of the best performances of the year", Label: 1},
	{Line: 5, Text: "neither here nor there", Label: 2},
	{Line: 6, Text: "it 's a charming and often affecting journey", Label: 1},
	{Line: 7, Text: "a premise", Pair: "the movie has a premise", Label: 2},
	{Line: 8, Text: "unfunny", Label: 0},
}

func TestProfileImportance(t *testing.T) {
	s, _ := convertFixture(t, "fixtures/tiny-bert")
	ctx := context.Background()
	be := testBackend()

	var calls, lastDone, lastTotal int
	var refAcc float64 = -1
	p1, err := profile.ProfileImportance(ctx, s, be, profileExamples, profile.ImportanceOptions{
		Workers: 1, Task: "test",
		Progress: func(done, total int) {
			calls++
			if done != calls {
				t.Errorf("progress done=%d on call %d", done, calls)
			}
			lastDone, lastTotal = done, total
		},
		Reference: func(acc float64) { refAcc = acc },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p1.Validate(); err != nil {
		t.Fatal(err)
	}
	c := s.Config()
	if want := c.Layers * c.Heads * (len(quant.AllFidelities()) + 1); lastTotal != want || lastDone != want {
		t.Errorf("progress ended at %d/%d, want %d/%d", lastDone, lastTotal, want, want)
	}
	if refAcc < 0 || refAcc > 1 {
		t.Errorf("reference accuracy %v not reported", refAcc)
	}
	if p1.Samples != len(profileExamples) || p1.Task != "test" || p1.Metric != profile.ImportanceMetric {
		t.Errorf("header %+v", p1)
	}
	if diff := cmp.Diff(quant.AllFidelities(), p1.Bits); diff != "" {
		t.Errorf("bits (-want +got):\n%s", diff)
	}

	t.Run("deterministic across worker counts", func(t *testing.T) {
		p3, err := profile.ProfileImportance(ctx, s, be, profileExamples, profile.ImportanceOptions{Workers: 3, Task: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p1, p3); diff != "" {
			t.Errorf("1 worker vs 3 (-1 +3):\n%s", diff)
		}
	})

	t.Run("fp32 is the reference", func(t *testing.T) {
		top := len(p1.Bits) - 1
		for l, heads := range p1.Shards {
			for h, sh := range heads {
				if sh.Loss[top] > 1e-9 || sh.AccDelta[top] != 0 {
					t.Errorf("layer %d head %d at fp32: KL %g, acc delta %g; want 0", l, h, sh.Loss[top], sh.AccDelta[top])
				}
			}
		}
	})

	t.Run("more bits lose less on average", func(t *testing.T) {
		mean := make([]float64, len(p1.Bits))
		var dropped float64
		for _, heads := range p1.Shards {
			for _, sh := range heads {
				for i, v := range sh.Loss {
					mean[i] += v
				}
				dropped += sh.Dropped
			}
		}
		t.Logf("summed KL per fidelity %v: %g; dropped: %g", p1.Bits, mean, dropped)
		for i := 1; i < len(mean); i++ {
			if mean[i] > mean[i-1] {
				t.Errorf("mean KL rises from %d bits (%g) to %d bits (%g)", p1.Bits[i-1], mean[i-1], p1.Bits[i], mean[i])
			}
		}
		if dropped < mean[0] {
			t.Errorf("mean KL when dropped (%g) is below that at %d bits (%g)", dropped, p1.Bits[0], mean[0])
		}
		if dropped <= 0 {
			t.Errorf("dropping shards changed nothing (mean KL %g)", dropped)
		}
	})
}

// TestImportanceMatchesBruteForce recomputes a few jobs the slow way: a
// whole forward pass of the model read from the store at fp32 with one shard
// replaced, KL and accuracy computed here.
func TestImportanceMatchesBruteForce(t *testing.T) {
	s, _ := convertFixture(t, "fixtures/tiny-bert")
	ctx := context.Background()
	be := testBackend()
	p, err := profile.ProfileImportance(ctx, s, be, profileExamples, profile.ImportanceOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	full, err := s.Uniform(ctx, quant.FP32)
	if err != nil {
		t.Fatal(err)
	}
	forward := func(m *bert.Model) (logp [][]float64, correct int) {
		for _, ex := range profileExamples {
			enc, err := tok.Encode(ex.Text, ex.Pair, 128)
			if err != nil {
				t.Fatal(err)
			}
			logits, err := m.Forward(ctx, be, enc.InputIDs, enc.TokenTypeIDs)
			if err != nil {
				t.Fatal(err)
			}
			// log-softmax written out independently of the package's.
			var z float64
			for _, v := range logits {
				z += math.Exp(float64(v))
			}
			lp := make([]float64, len(logits))
			best := 0
			for i, v := range logits {
				lp[i] = float64(v) - math.Log(z)
				if v > logits[best] {
					best = i
				}
			}
			if best == ex.Label {
				correct++
			}
			logp = append(logp, lp)
		}
		return logp, correct
	}
	ref, refCorrect := forward(full)

	for _, tc := range []struct {
		layer, head int
		bits        quant.Fidelity // 0: dropped
	}{{1, 2, quant.Bits3}, {0, 1, quant.Bits2}, {2, 3, 0}, {0, 0, 0}, {2, 0, quant.Bits8}} {
		m := *full
		m.Layers = append([]bert.Layer(nil), full.Layers...)
		ly := &m.Layers[tc.layer]
		ly.Attention = append([]*bert.AttentionShard(nil), ly.Attention...)
		ly.FFN = append([]*bert.FFNShard(nil), ly.FFN...)
		ly.Attention[tc.head], ly.FFN[tc.head] = nil, nil
		if tc.bits != 0 {
			a, err := s.ReadShard(ctx, shardstore.Key{Layer: tc.layer, Head: tc.head, Part: shardstore.Attention, Fidelity: tc.bits}, nil)
			if err != nil {
				t.Fatal(err)
			}
			f, err := s.ReadShard(ctx, shardstore.Key{Layer: tc.layer, Head: tc.head, Part: shardstore.FFN, Fidelity: tc.bits}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ly.Attention[tc.head], ly.FFN[tc.head] = a.Attention, f.FFN
		}
		got, correct := forward(&m)
		var want float64
		for i := range got {
			for j := range got[i] {
				want += math.Exp(ref[i][j]) * (ref[i][j] - got[i][j])
			}
		}
		want /= float64(len(got))
		wantAcc := float64(correct-refCorrect) / float64(len(got))

		sh := p.Shards[tc.layer][tc.head]
		gotKL, gotAcc := sh.Dropped, sh.DroppedAccDelta
		if tc.bits != 0 {
			i := indexOf(p.Bits, tc.bits)
			gotKL, gotAcc = sh.Loss[i], sh.AccDelta[i]
		}
		if math.Abs(gotKL-want) > 1e-6 {
			t.Errorf("layer %d head %d bits %d: profile KL %.9g, brute force %.9g", tc.layer, tc.head, tc.bits, gotKL, want)
		}
		if gotAcc != wantAcc {
			t.Errorf("layer %d head %d bits %d: profile acc delta %g, brute force %g", tc.layer, tc.head, tc.bits, gotAcc, wantAcc)
		}
		if tc.bits == 0 && want <= 0 {
			t.Errorf("layer %d head %d: dropping the shard changed nothing", tc.layer, tc.head)
		}
	}
}

func indexOf(bits []quant.Fidelity, f quant.Fidelity) int {
	for i, b := range bits {
		if b == f {
			return i
		}
	}
	return -1
}

func TestProfileImportanceBadInput(t *testing.T) {
	s, _ := convertFixture(t, "fixtures/tiny-bert")
	ctx := context.Background()
	be := testBackend()
	for _, tc := range []struct {
		name     string
		examples []profile.Example
		opts     profile.ImportanceOptions
		want     string
	}{
		{"no examples", nil, profile.ImportanceOptions{}, "no examples"},
		{"label out of range", []profile.Example{{Line: 7, Text: "fine", Label: 3}}, profile.ImportanceOptions{}, "line 7"},
		{"negative label", []profile.Example{{Line: 9, Text: "fine", Label: -1}}, profile.ImportanceOptions{}, "line 9"},
		{"max len too long", profileExamples, profile.ImportanceOptions{MaxLen: 100000}, "max length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := profile.ProfileImportance(ctx, s, be, tc.examples, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// settleGoroutines waits briefly for goroutines to exit and returns how
// many remain.
func settleGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 100 && n > want; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func TestProfileImportanceCancel(t *testing.T) {
	s, _ := convertFixture(t, "fixtures/tiny-bert")
	be := testBackend()
	before := runtime.NumGoroutine()

	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := profile.ProfileImportance(ctx, s, be, profileExamples, profile.ImportanceOptions{Workers: 2})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	})
	t.Run("mid-run", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var last int
		_, err := profile.ProfileImportance(ctx, s, be, profileExamples, profile.ImportanceOptions{
			Workers: 2,
			Progress: func(done, total int) {
				last = done
				if done == 3 {
					cancel()
				}
			},
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
		// Jobs already running may finish, but no new ones start.
		if last > 3+2 {
			t.Errorf("%d jobs finished after cancelling at 3 with 2 workers", last)
		}
	})
	if n := settleGoroutines(before); n > before {
		t.Errorf("%d goroutines before, %d after: leak", before, n)
	}
}

func TestImportanceSaveLoad(t *testing.T) {
	s, uri := convertFixture(t, "fixtures/tiny-bert")
	ctx := context.Background()
	_, err := profile.LoadImportance(ctx, uri, s)
	if !errors.Is(err, profile.ErrNoProfile) {
		t.Fatalf("load from a store without a profile: %v", err)
	}
	p, err := profile.ProfileImportance(ctx, s, testBackend(), profileExamples[:3], profile.ImportanceOptions{Task: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := profile.SaveImportance(ctx, uri, s, p); err != nil {
		t.Fatal(err)
	}
	got, err := profile.LoadImportance(ctx, uri, s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("loaded profile differs (-saved +loaded):\n%s", diff)
	}
	bad := *p
	bad.Shards = bad.Shards[:1]
	if err := profile.SaveImportance(ctx, uri, s, &bad); err == nil {
		t.Error("saving an inconsistent profile succeeded")
	}
}

// Profile a converted store on SST-2 training rows (never the dev set,
// which is kept for evaluation) and save the result beside the store,
// where the planner finds it with LoadImportance.
func ExampleProfileImportance() {
	ctx := context.Background()
	uri := "file:/path/to/store" // made by wrx convert
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		log.Fatal(err)
	}
	// Labelled data kept apart from evaluation, such as rows of SST-2's
	// train.tsv (glue.ReadFile reads them).
	examples := []profile.Example{
		{Text: "a gorgeous , witty , seductive movie .", Label: 1},
		{Text: "the plot is nothing but boilerplate clichés", Label: 0},
	}
	be, err := backend.Get("native")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	p, err := profile.ProfileImportance(ctx, s, be, examples, profile.ImportanceOptions{Task: "sst2"})
	if err != nil {
		log.Fatal(err)
	}
	if err := profile.SaveImportance(ctx, uri, s, p); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("KL of layer 0 head 0 when dropped: %.3g\n", p.Shards[0][0].Dropped)
}
