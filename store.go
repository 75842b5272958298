package wrx

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic"
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/rss"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
	_ "github.com/wrxlabs/wrx/storage/flatfile" // the default storage
)

func storeSchemes() []string {
	var out []string
	for _, s := range storage.Schemes() {
		out = append(out, s+":")
	}
	return out
}

func isStoreURI(s string) bool {
	scheme, _, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	for _, k := range storage.Schemes() {
		if k == scheme {
			return true
		}
	}
	return false
}

// OpenStore opens a shard store made by "wrx convert" (or DefaultStore).
// Import a storage package to register its scheme; file: (the default
// storage) and mem: are always registered, badger: comes with
// github.com/wrxlabs/wrx/storage/badger.
func OpenStore(ctx context.Context, uri string, opts Options) (*Classifier, error) {
	if opts.Target > 0 && opts.Threads == 0 && (opts.Backend == "" || opts.Backend == DefaultBackend) {
		opts.Threads = pipeline.ComputeThreads() // a core for the IO goroutine
	}
	be, err := backendFor(opts)
	if err != nil {
		return nil, err
	}
	var throttle storage.ThrottleConfig
	if opts.Throttle != "" {
		if throttle, err = storage.ParseThrottle(opts.Throttle); err != nil {
			return nil, fmt.Errorf("wrx: %w", err)
		}
	}
	s, err := shardstore.OpenURIWith(ctx, uri, shardstore.OpenOptions{Throttle: throttle})
	if err != nil {
		return nil, fmt.Errorf("wrx: %w", err)
	}
	tok, err := s.Tokenizer()
	if err == nil {
		tok, err = withTruncation(tok, opts)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("wrx: %s: %w", uri, err)
	}
	floor := rss.Current() // the manifest and tokenizer, no weights yet
	eng, err := storeEngine(ctx, uri, s, be, opts, throttle)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("wrx: %s: %w", uri, err)
	}
	c := newClassifier(s.Config(), tok, eng, opts)
	c.close = s.Close
	if e, ok := eng.(*elasticEngine); ok {
		c.close = func() error { return errors.Join(e.r.Close(), s.Close()) }
		c.target = opts.Target
	}
	c.synthetic = s.Manifest().Synthetic
	c.floorRSS = floor
	return c, nil
}

func storeEngine(ctx context.Context, uri string, s *shardstore.Store, be backend.Backend, opts Options, throttle storage.ThrottleConfig) (engine, error) {
	if opts.Target > 0 {
		prof, err := profile.LoadProfiles(ctx, uri, s, be, throttle)
		if err != nil {
			return nil, err
		}
		strategy, err := plan.ParseStrategy(opts.Strategy)
		if err != nil {
			return nil, err
		}
		r, err := elastic.NewRunner(ctx, s, be, elastic.RunnerOptions{
			Target: opts.Target, Budget: opts.Budget, BestEffort: opts.BestEffort, MaxSeqLen: cmp.Or(opts.MaxLen, DefaultMaxLen),
			Profiles: prof, Planner: plan.Options{Strategy: strategy, LossTolerance: opts.LossTolerance},
		})
		if err != nil {
			return nil, err
		}
		return &elasticEngine{r: r}, nil
	}
	f := opts.Fidelity
	if f == 0 {
		f = highest(s.Manifest().Fidelities)
	}
	// 8-bit weights run on the backend's integer kernels, one byte per
	// weight in memory, and the word table is held at 8 bits too rather
	// than read row by row from storage per request.
	_, int8 := be.(backend.Int8Multiplier)
	int8 = int8 && f == quant.Bits8
	// 4-bit shards are fused into backend.Int4 layers (each head's codes
	// and dictionary kept), multiplied with the integer kernels, half a
	// byte per weight in memory.
	_, int4 := be.(backend.Int4Multiplier)
	int4 = int4 && f == quant.Bits4
	fuse := shardstore.FuseEachLayer(int8)
	if int4 {
		fuse = shardstore.FuseEachLayerWith((*bert.Model).FuseInt4)
	}
	m, err := s.UniformWith(ctx, f, shardstore.UniformOptions{AfterLayer: fuse})
	if err != nil {
		return nil, err
	}
	if int8 || int4 {
		// At 4 bits too: held in memory, the model reads nothing per
		// request, as at 8 bits.
		if m.Embeddings.Word, err = s.WordTableInt8(ctx); err != nil {
			return nil, err
		}
	}
	return &denseEngine{m: m, be: be, int4: int4}, nil
}

type elasticEngine struct{ r *elastic.Runner }

func (e *elasticEngine) logits(ctx context.Context, arrival time.Time, target time.Duration, ids, typeIDs []int) ([]float32, *elastic.RunInfo, error) {
	logits, info, err := e.r.RunTarget(ctx, arrival, target, ids, typeIDs)
	return logits, &info, err
}

func highest(fids []quant.Fidelity) quant.Fidelity {
	best := fids[0]
	for _, f := range fids {
		best = max(best, f)
	}
	return best
}
