package profile

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/internal/stats"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// DefaultProfileMaxLen is the token limit ProfileImportance encodes
// examples with when ImportanceOptions.MaxLen is zero; it matches the
// facade's default, so the profile sees the inputs requests will.
const DefaultProfileMaxLen = 128

// ImportanceMetric is the ImportanceProfile.Metric ProfileImportance
// writes: the mean KL divergence of the degraded model's label distribution
// from the full model's, in nats.
const ImportanceMetric = "kl"

// Example is one labelled input to profile importance on.
type Example struct {
	Text, Pair string // Pair is empty for single-sentence tasks
	Label      int    // the class index
	// Line says where the example came from in errors, such as its line
	// in a data file.
	Line int
}

// ImportanceOptions tunes ProfileImportance. The zero value encodes at
// DefaultProfileMaxLen and uses GOMAXPROCS workers.
type ImportanceOptions struct {
	// MaxLen bounds each example's token count, [CLS] and [SEP] included;
	// 0 means DefaultProfileMaxLen.
	MaxLen int
	// Workers run (layer, head, fidelity) jobs in parallel; 0 means
	// runtime.GOMAXPROCS(0). The result does not depend on it.
	Workers int
	// Progress, if set, is called after each job with the number done and
	// the total. Calls are serialised and done increases by one each time.
	Progress func(done, total int)
	// Reference, if set, is called once the full model has run on every
	// example, with its accuracy (a fraction) against their labels: the
	// accuracy the profile's AccDelta values are relative to.
	Reference func(accuracy float64)
	// Task is recorded in the profile to say what it was measured on, e.g.
	// "sst2".
	Task string
}

// ProfileImportance measures, for every shard (layer, head) of the store's
// model and every fidelity the store holds plus "dropped", how much the
// model's output moves when only that shard is degraded: its attention and
// FFN parts both at that fidelity, or both absent. Movement is the mean
// KL(p_full ‖ p_degraded) of the label distributions over examples, and the
// change in accuracy against the examples' labels. The reference ("full")
// model holds every shard at the highest fidelity in the store.
//
// Each layer's input under the full model is cached per example, so a
// shard of layer l re-runs only layers l and above. Degraded shard
// versions are read once per job and expanded to float32 once, which
// changes no weight value: it only saves decoding them per example.
//
// The examples must be labelled data that is not used for evaluation (for
// SST-2, rows of train.tsv). The result is deterministic: each job sums its
// examples in order, whatever the number of workers.
func ProfileImportance(ctx context.Context, store *shardstore.Store, be backend.Backend, examples []Example, opts ImportanceOptions) (*plan.ImportanceProfile, error) {
	r, err := newImportanceRun(ctx, store, be, examples, opts)
	if err != nil {
		return nil, err
	}
	if err := r.reference(ctx); err != nil {
		return nil, err
	}
	res, err := r.measure(ctx)
	if err != nil {
		return nil, err
	}
	return r.profile(res), nil
}

// impact is what degrading one shard to one variant did, summed over the
// examples in order.
type impact struct {
	klSum   float64 // Σ KL(p_full ‖ p_degraded)
	correct int     // examples the degraded model gets right
	flips   int     // examples whose predicted class changed
}

// importanceRun holds what every job shares: the full model, the cached
// layer inputs and the reference distributions. All of it is read-only once
// reference has run.
type importanceRun struct {
	store   *shardstore.Store
	be      backend.Backend
	cfg     *bert.Config
	workers int
	opts    ImportanceOptions

	fids []quant.Fidelity // the store's fidelities, increasing
	top  quant.Fidelity   // the reference fidelity

	full *bert.Model // every shard at top, expanded to Dense

	ids, types [][]int
	labels     []int

	inputs   [][][]float32 // [example][layer] hidden state entering the layer
	refLogP  [][]float64   // [example] log p_full
	refPred  []int
	baseCorr int
}

func newImportanceRun(ctx context.Context, store *shardstore.Store, be backend.Backend, examples []Example, opts ImportanceOptions) (*importanceRun, error) {
	if store == nil || be == nil {
		return nil, errors.New("profile importance: nil store or backend")
	}
	if len(examples) == 0 {
		return nil, errors.New("profile importance: no examples")
	}
	cfg := store.Config()
	if len(cfg.Labels) < 2 {
		return nil, fmt.Errorf("profile importance: the model has %d output(s); KL needs a classifier with at least 2 labels", len(cfg.Labels))
	}
	if opts.MaxLen == 0 {
		opts.MaxLen = DefaultProfileMaxLen
	}
	if opts.MaxLen < 3 || opts.MaxLen > cfg.MaxPosition {
		return nil, fmt.Errorf("profile importance: max length %d outside [3, %d]", opts.MaxLen, cfg.MaxPosition)
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	tok, err := store.Tokenizer()
	if err != nil {
		return nil, fmt.Errorf("profile importance: %w", err)
	}
	r := &importanceRun{store: store, be: be, cfg: cfg, workers: workers, opts: opts}
	r.fids = slices.Clone(store.Manifest().Fidelities)
	slices.Sort(r.fids)
	r.top = r.fids[len(r.fids)-1]
	for i, ex := range examples {
		if ex.Label < 0 || ex.Label >= len(cfg.Labels) {
			return nil, fmt.Errorf("profile importance: example %d (line %d): label %d outside the model's %d labels", i, ex.Line, ex.Label, len(cfg.Labels))
		}
		// AllowEmpty encodes as Hugging Face does rather than dropping the
		// row, so the profile covers exactly the examples given.
		enc, err := tok.EncodeWith(ex.Text, ex.Pair, bert.EncodeOptions{MaxLen: opts.MaxLen, AllowEmpty: true})
		if err != nil {
			return nil, fmt.Errorf("profile importance: example %d (line %d): %w", i, ex.Line, err)
		}
		r.ids = append(r.ids, enc.InputIDs)
		r.types = append(r.types, enc.TokenTypeIDs)
		r.labels = append(r.labels, ex.Label)
	}
	if r.full, err = store.Skeleton(ctx); err != nil {
		return nil, fmt.Errorf("profile importance: %w", err)
	}
	for l := range cfg.Layers {
		for h := range cfg.Heads {
			a, f, err := loadShardDense(ctx, store, l, h, r.top)
			if err != nil {
				return nil, fmt.Errorf("profile importance: %w", err)
			}
			r.full.Layers[l].Attention[h], r.full.Layers[l].FFN[h] = a, f
		}
	}
	return r, nil
}

// loadShardDense reads both parts of shard (l, h) at fidelity f, each into its
// own buffer, and expands their matrices to float32.
func loadShardDense(ctx context.Context, store *shardstore.Store, l, h int, f quant.Fidelity) (*bert.AttentionShard, *bert.FFNShard, error) {
	sa, err := store.ReadShard(ctx, shardstore.Key{Layer: l, Head: h, Part: shardstore.Attention, Fidelity: f}, nil)
	if err != nil {
		return nil, nil, err
	}
	sf, err := store.ReadShard(ctx, shardstore.Key{Layer: l, Head: h, Part: shardstore.FFN, Fidelity: f}, nil)
	if err != nil {
		return nil, nil, err
	}
	a, ff := sa.Attention, sf.FFN
	// Biases view the blob buffer, which the shard keeps alive.
	return &bert.AttentionShard{
			Query: expandDense(a.Query), Key: expandDense(a.Key), Value: expandDense(a.Value), Output: expandDense(a.Output),
			QueryBias: a.QueryBias, KeyBias: a.KeyBias, ValueBias: a.ValueBias,
		}, &bert.FFNShard{
			Up: expandDense(ff.Up), UpBias: ff.UpBias, Down: expandDense(ff.Down),
		}, nil
}

// expandDense expands any Matrix to float32.
func expandDense(m backend.Matrix) *backend.Dense {
	if d, ok := m.(*backend.Dense); ok {
		return d
	}
	n, k := m.Dims()
	d := &backend.Dense{N: n, K: k, Data: make([]float32, n*k)}
	m.DecodeRows(d.Data, 0, n)
	return d
}

// reference runs the full model on every example, caching each layer's
// input and the output log-probabilities.
func (r *importanceRun) reference(ctx context.Context) error {
	n := len(r.ids)
	r.inputs = make([][][]float32, n)
	r.refLogP = make([][]float64, n)
	r.refPred = make([]int, n)
	err := profParallel(ctx, n, r.workers, nil, func(ctx context.Context, i int) error {
		p := bert.NewPass(r.be, r.cfg, len(r.ids[i]))
		if err := p.Embed(ctx, &r.full.Embeddings, r.ids[i], r.types[i]); err != nil {
			return fmt.Errorf("example %d: %w", i, err)
		}
		in := make([][]float32, r.cfg.Layers)
		for l := range r.full.Layers {
			in[l] = append([]float32(nil), p.Hidden()...)
			p.RunLayer(&r.full.Layers[l])
		}
		r.inputs[i] = in
		r.refLogP[i] = stats.LogSoftmax(p.Logits(&r.full.Head))
		r.refPred[i] = profArgmax(r.refLogP[i])
		return nil
	})
	if err != nil {
		return fmt.Errorf("profile importance: full model: %w", err)
	}
	for i, p := range r.refPred {
		if p == r.labels[i] {
			r.baseCorr++
		}
	}
	if r.opts.Reference != nil {
		r.opts.Reference(float64(r.baseCorr) / float64(n))
	}
	return nil
}

// profile turns the summed impacts into means.
func (r *importanceRun) profile(res [][][]impact) *plan.ImportanceProfile {
	c := r.cfg
	n := float64(len(r.ids))
	p := &plan.ImportanceProfile{
		Task: r.opts.Task, Metric: ImportanceMetric, Samples: len(r.ids),
		Layers: c.Layers, Heads: c.Heads, Bits: slices.Clone(r.fids),
		Shards: make([][]plan.ShardImportance, c.Layers),
	}
	accDelta := func(im impact) float64 { return float64(im.correct-r.baseCorr) / n }
	for l := range c.Layers {
		p.Shards[l] = make([]plan.ShardImportance, c.Heads)
		for h := range c.Heads {
			vs := res[l][h]
			s := plan.ShardImportance{Loss: make([]float64, len(r.fids)), AccDelta: make([]float64, len(r.fids))}
			for i := range r.fids {
				s.Loss[i], s.AccDelta[i] = vs[i].klSum/n, accDelta(vs[i])
			}
			d := vs[len(r.fids)]
			s.Dropped, s.DroppedAccDelta = d.klSum/n, accDelta(d)
			p.Shards[l][h] = s
		}
	}
	return p
}

// impJob degrades shard (layer, head) to variant: an index into fids, or
// len(fids) for dropped.
type impJob struct{ layer, head, variant int }

// measure runs every job and returns impacts indexed [layer][head][variant].
func (r *importanceRun) measure(ctx context.Context) ([][][]impact, error) {
	c := r.cfg
	nv := len(r.fids) + 1
	out := make([][][]impact, c.Layers)
	var jobs []impJob
	for l := range c.Layers {
		out[l] = make([][]impact, c.Heads)
		for h := range c.Heads {
			out[l][h] = make([]impact, nv)
			for v := range nv {
				jobs = append(jobs, impJob{l, h, v})
			}
		}
	}
	// One Pass per sequence length per worker: Pass buffers are sized once.
	passes := make(chan map[int]*bert.Pass, r.workers)
	for range r.workers {
		passes <- map[int]*bert.Pass{}
	}
	err := profParallel(ctx, len(jobs), r.workers, r.opts.Progress, func(ctx context.Context, i int) error {
		pp := <-passes
		defer func() { passes <- pp }()
		j := jobs[i]
		res, err := r.run(ctx, j, pp)
		if err != nil {
			return err
		}
		out[j.layer][j.head][j.variant] = res
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("profile importance: %w", err)
	}
	return out, nil
}

// run measures one job over every example.
func (r *importanceRun) run(ctx context.Context, j impJob, passes map[int]*bert.Pass) (impact, error) {
	full := &r.full.Layers[j.layer]
	layer := bert.Layer{
		Resident:  full.Resident,
		Attention: append([]*bert.AttentionShard(nil), full.Attention...),
		FFN:       append([]*bert.FFNShard(nil), full.FFN...),
	}
	if j.variant < len(r.fids) {
		a, f, err := loadShardDense(ctx, r.store, j.layer, j.head, r.fids[j.variant])
		if err != nil {
			return impact{}, err
		}
		layer.Attention[j.head], layer.FFN[j.head] = a, f
	} else {
		layer.Attention[j.head], layer.FFN[j.head] = nil, nil
	}
	var res impact
	for i, ids := range r.ids {
		if err := ctx.Err(); err != nil {
			return impact{}, err
		}
		p := passes[len(ids)]
		if p == nil {
			p = bert.NewPass(r.be, r.cfg, len(ids))
			passes[len(ids)] = p
		}
		if err := p.SetHidden(r.inputs[i][j.layer]); err != nil {
			return impact{}, err
		}
		p.RunLayer(&layer)
		for l := j.layer + 1; l < r.cfg.Layers; l++ {
			p.RunLayer(&r.full.Layers[l])
		}
		lp := stats.LogSoftmax(p.Logits(&r.full.Head))
		res.klSum += stats.KL(r.refLogP[i], lp)
		pred := profArgmax(lp)
		if pred == r.labels[i] {
			res.correct++
		}
		if pred != r.refPred[i] {
			res.flips++
		}
	}
	return res, nil
}

// profParallel calls fn(ctx, i) for every i in [0, n) on up to workers
// goroutines. The first error cancels the rest and is returned; so is the
// context's error if it ends first. progress, if set, is called after each
// call returns without error, serialised. profParallel returns only after every
// goroutine it started has exited.
func profParallel(ctx context.Context, n, workers int, progress func(done, total int), fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		done     int
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					fail(err)
					continue
				}
				if progress != nil {
					mu.Lock()
					done++
					progress(done, n)
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func profArgmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
