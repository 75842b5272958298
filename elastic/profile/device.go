package profile

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/internal/stats"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// DeviceOptions tunes ProfileDevice. The zero value takes the median of 9
// repetitions, reads 4 blobs per (fidelity, part), and measures sequence
// lengths 8 to 128 and shard counts 0, 1, 2, 3, 4, 6, 8, 10 and all.
type DeviceOptions struct {
	// Repeats is how many times each compute time is measured; the median
	// is kept. 0 means 9.
	Repeats int
	// ReadSamples is how many distinct blobs are read per (fidelity, part),
	// and a quarter of how many word-embedding rows; 0 means
	// DefaultReadSamples, or every shard of a model with fewer.
	ReadSamples int
	// SeqLens are the sequence lengths to time, increasing; nil means 8,
	// 16, 32, 64 and 128 (those within the model's max_position).
	SeqLens []int
	// ShardCounts are the shard counts per layer to time, increasing from 0
	// and at most the number of heads; nil means 0, 1, 2, 3, 4, 6, 8, 10
	// and the number of heads (those below it).
	ShardCounts []int
	// ReadQueue is how many reads are kept in flight at once while reads
	// are timed, as pipeline.ExecOptions.ReadQueue keeps them; the profile
	// records it (plan.DeviceProfile.ReadQueue) and the runner streams at
	// that depth. 0 or 1 reads one at a time, timing each read; deeper,
	// each group of reads is timed as a whole, and its time per read is
	// what is fitted.
	ReadQueue int
	// Seed seeds the random token ids and the choice of blobs.
	Seed uint64
	// Progress, if set, is called after each measurement with the number
	// done and the total.
	Progress func(done, total int)
}

// ProfileDevice measures how fast this device reads the store and runs the
// model on be:
//
//   - reads: each shard blob of a sample, at every fidelity and both
//     parts, and a sample of word-embedding rows, is read once through st
//     (cold: the flat-file store reads with direct IO, so no page cache),
//     and read time = latency + bytes/bandwidth is fitted by least squares
//     to the median time of each (fidelity, part) group; with
//     opts.ReadQueue reads in flight at once, to each group's wall time
//     over its reads, so that latency and bandwidth are the effective
//     ones of a stream of reads at that depth, which the planner's model
//     of one read after another then predicts;
//   - compute: with the real Pass on random token ids, one layer at every
//     (sequence length, shard count), with shards at the store's highest
//     fidelity as the executor reads them; the embedding (from rows
//     already read) and the classification head at every sequence length;
//   - dequantization: a layer with every shard at each fidelity against
//     the highest; the factor is the ratio of the shard-dependent part of
//     the layer time, the largest over the sequence lengths measured
//     (decoding costs the same at any length, so short sequences feel it
//     most and the largest is the safe bound).
//
// st is normally store.Storage(), possibly wrapped (storage.Throttle) to
// emulate a slower device; compute reads shards through store, unthrottled,
// since only their computation is timed.
func ProfileDevice(ctx context.Context, store *shardstore.Store, st storage.Store, be backend.Backend, opts DeviceOptions) (*plan.DeviceProfile, error) {
	if store == nil || st == nil || be == nil {
		return nil, errors.New("profile device: nil store, storage or backend")
	}
	d, err := newDeviceRun(store, st, be, opts)
	if err != nil {
		return nil, fmt.Errorf("profile device: %w", err)
	}
	host := CurrentHost(be)
	p := &plan.DeviceProfile{Backend: be.Name(), Host: &host, ReadQueue: d.opts.ReadQueue}
	if t, ok := be.(backend.Threaded); ok {
		p.Threads = t.Threads()
	}
	if p.ReadBandwidth, p.ReadLatency, err = d.reads(ctx); err != nil {
		return nil, fmt.Errorf("profile device: reads: %w", err)
	}
	if p.Depths, err = MeasureDepths(ctx, store, st, d.opts); err != nil {
		return nil, fmt.Errorf("profile device: %w", err)
	}
	if p.RowReadFixed, p.RowReadTime, err = MeasureRowReads(ctx, store, st, opts); err != nil {
		return nil, fmt.Errorf("profile device: %w", err)
	}
	if p.Decode, err = d.decode(ctx); err != nil {
		return nil, fmt.Errorf("profile device: %w", err)
	}
	if p.Compute, p.Dequant, err = d.compute(ctx); err != nil {
		return nil, fmt.Errorf("profile device: compute: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("profile device: %w", err)
	}
	return p, nil
}

// cacheFlushBytes is how much memory the compute profile touches before
// each timed layer to evict its shards from the caches: more than the
// last-level cache of the small devices WRX targets and of the
// development machine.
const cacheFlushBytes = 48 << 20

// DefaultReadSamples is the default DeviceOptions.ReadSamples. Each read
// time fitted is a group's median: with 4 reads a group, a burst of slow
// reads on a shared virtual disk gave per-read latencies of 30–320 µs in
// measurements minutes apart (wrx-bench re-measures reads before its
// units, and a 7.1 ms target could not open at the slowest); with 16,
// six measurements in a row gave 52–68 µs and 2.1–2.7 GB/s.
const DefaultReadSamples = 16

// DefaultReadQueue is the read depth the wrx CLI profiles a device at
// (DeviceOptions.ReadQueue), and so the depth its runners stream at; a
// profile saved before depths were recorded streams one read at a time.
// On the 2-core development machine (load average 6–8 from other jobs),
// streaming every shard of BERT-base at fp32 from a file: store had a
// median latency of 264–310 ms one read at a time and 216–254 ms at 2, 4
// or 8 (scripts/bench-stream-bound.sh, 3 runs); behind a
// 200MB/s,0.5ms throttle, wrx-sst2-small's 144 fp32 blobs took 329 ms
// at depth 1 and 246 at 8, its 4-bit ones 140 and 72 ms. Its fitted
// per-read latency there fell from 500 µs at depth 1 to 145 µs at 4.
const DefaultReadQueue = 4

// MeasureReads measures only the read side of ProfileDevice: the fitted
// bandwidth (bytes per second) and per-read latency of st, which holds the
// blobs of store. It takes well under a second on a fast device, so a
// benchmark can re-measure the storage it actually runs on (for example
// under a different storage.Throttle) without timing compute again. Only
// opts.ReadSamples, opts.ReadQueue and opts.Seed matter.
func MeasureReads(ctx context.Context, store *shardstore.Store, st storage.Store, opts DeviceOptions) (bandwidth float64, latency time.Duration, err error) {
	if store == nil || st == nil {
		return 0, 0, errors.New("measure reads: nil store or storage")
	}
	opts.Progress = nil
	d, err := newDeviceRun(store, st, nil, opts)
	if err != nil {
		return 0, 0, fmt.Errorf("measure reads: %w", err)
	}
	if bandwidth, latency, err = d.reads(ctx); err != nil {
		return 0, 0, fmt.Errorf("measure reads: %w", err)
	}
	return bandwidth, latency, nil
}

// MeasureDepths measures reads as MeasureReads does at every depth below
// opts.ReadQueue that a runner with fewer in-flight buffers streams at
// (1, 2, 4, …): the profile's plan.DeviceProfile.Depths. It returns nil
// for a read queue of 0 or 1.
func MeasureDepths(ctx context.Context, store *shardstore.Store, st storage.Store, opts DeviceOptions) ([]plan.ReadDepth, error) {
	var out []plan.ReadDepth
	for q := 1; q < opts.ReadQueue; q *= 2 {
		o := opts
		o.ReadQueue = q
		bw, lat, err := MeasureReads(ctx, store, st, o)
		if err != nil {
			return nil, fmt.Errorf("reads %d in flight: %w", q, err)
		}
		out = append(out, plan.ReadDepth{Queue: q, Bandwidth: bw, Latency: lat})
	}
	return out, nil
}

type deviceRun struct {
	store *shardstore.Store
	st    storage.Store
	be    backend.Backend
	cfg   *bert.Config
	opts  DeviceOptions
	fids  []quant.Fidelity // increasing
	rng   *rand.Rand
	bufs  [][]byte // timeReads', one per read in flight

	done, total int
}

func newDeviceRun(store *shardstore.Store, st storage.Store, be backend.Backend, opts DeviceOptions) (*deviceRun, error) {
	c := store.Config()
	if opts.Repeats <= 0 {
		opts.Repeats = 9
	}
	if opts.ReadQueue < 0 {
		return nil, fmt.Errorf("read queue %d is negative", opts.ReadQueue)
	}
	if opts.ReadSamples <= 0 {
		opts.ReadSamples = min(DefaultReadSamples, c.Layers*c.Heads)
	}
	if opts.ReadSamples > c.Layers*c.Heads {
		return nil, fmt.Errorf("%d read samples per group, but the model has only %d shards", opts.ReadSamples, c.Layers*c.Heads)
	}
	if opts.SeqLens == nil {
		for _, s := range []int{8, 16, 32, 64, 128} {
			if s <= c.MaxPosition {
				opts.SeqLens = append(opts.SeqLens, s)
			}
		}
	}
	for i, s := range opts.SeqLens {
		if s <= 0 || s > c.MaxPosition || (i > 0 && s <= opts.SeqLens[i-1]) {
			return nil, fmt.Errorf("sequence lengths %v must increase within [1, %d]", opts.SeqLens, c.MaxPosition)
		}
	}
	if len(opts.SeqLens) == 0 {
		return nil, errors.New("no sequence lengths to measure")
	}
	if opts.ShardCounts == nil {
		for _, n := range []int{0, 1, 2, 3, 4, 6, 8, 10} {
			if n < c.Heads {
				opts.ShardCounts = append(opts.ShardCounts, n)
			}
		}
		opts.ShardCounts = append(opts.ShardCounts, c.Heads)
	}
	sc := opts.ShardCounts
	if len(sc) < 2 || sc[0] != 0 {
		return nil, fmt.Errorf("shard counts %v must start at 0 and hold at least two counts", sc)
	}
	for i := 1; i < len(sc); i++ {
		if sc[i] <= sc[i-1] || sc[i] > c.Heads {
			return nil, fmt.Errorf("shard counts %v must increase within [0, %d]", sc, c.Heads)
		}
	}
	fids := slices.Clone(store.Manifest().Fidelities)
	slices.Sort(fids)
	d := &deviceRun{store: store, st: st, be: be, cfg: c, opts: opts, fids: fids,
		rng: rand.New(rand.NewPCG(opts.Seed, 0x5752585f44455649))}
	nS := len(opts.SeqLens)
	d.total = 2*len(fids) + 1 + nS*(len(sc)+2) + nS*len(fids)
	if be != nil {
		d.total += len(fids) // decode times, with compute
	}
	return d, nil
}

func (d *deviceRun) step() {
	d.done++
	if d.opts.Progress != nil {
		d.opts.Progress(d.done, d.total)
	}
}

// readGroup is the reads of blobs of about one size.
type readGroup struct {
	bytes float64       // mean size
	time  time.Duration // median time
}

// blobRead is one timed read: n bytes at off of the blob under key.
type blobRead struct {
	key string
	off int64
	n   int
}

// timeReads reads rs and returns the time a read takes: the median of
// their times, one read at a time, or with opts.ReadQueue reads in flight
// the wall time of all of them over their number.
func (d *deviceRun) timeReads(ctx context.Context, rs []blobRead) (time.Duration, error) {
	q := max(d.opts.ReadQueue, 1)
	if len(d.bufs) < q {
		d.bufs = make([][]byte, q)
	}
	read := func(buf *[]byte, r blobRead) (time.Duration, error) {
		if cap(*buf) < int(storage.AlignUp(int64(r.n))) {
			*buf = storage.AlignedBuffer(r.n)
		}
		start := time.Now()
		// ReadAligned, as shardstore.ReadBlob reads shards: the timed
		// read is the one the executor will do.
		got, err := storage.ReadAligned(ctx, d.st, r.key, (*buf)[:r.n], r.off)
		el := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", r.key, err)
		}
		if got != r.n {
			return 0, fmt.Errorf("read %s: %d bytes, want %d", r.key, got, r.n)
		}
		return el, nil
	}
	if q == 1 {
		times := make([]time.Duration, 0, len(rs))
		for _, r := range rs {
			t, err := read(&d.bufs[0], r)
			if err != nil {
				return 0, err
			}
			times = append(times, t)
		}
		return stats.Median(times), nil
	}
	todo := make(chan blobRead)
	errs := make([]error, q)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range q {
		wg.Go(func() {
			for r := range todo {
				if errs[w] == nil {
					_, errs[w] = read(&d.bufs[w], r)
				}
			}
		})
	}
	for _, r := range rs {
		todo <- r
	}
	close(todo)
	wg.Wait()
	el := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return el / time.Duration(len(rs)), nil
}

// reads times cold reads of blobs of every size the store holds and fits
// latency + bytes/bandwidth.
func (d *deviceRun) reads(ctx context.Context) (bw float64, lat time.Duration, err error) {
	c, man := d.cfg, d.store.Manifest()
	k := d.opts.ReadSamples
	// Every group reads distinct shards, and no blob is read twice, so no
	// read is served by a cache the first one filled.
	shards := d.rng.Perm(c.Layers * c.Heads)
	var groups []readGroup
	next := 0
	for _, f := range d.fids {
		for _, part := range []shardstore.Part{shardstore.Attention, shardstore.FFN} {
			rs := make([]blobRead, 0, k)
			var total float64
			for i := range k {
				s := shards[(next+i)%len(shards)]
				key := shardstore.Key{Layer: s / c.Heads, Head: s % c.Heads, Part: part, Fidelity: f}.String()
				size := man.Blobs[key].Size
				rs = append(rs, blobRead{key: key, n: int(size)})
				total += float64(size)
			}
			next += k
			t, err := d.timeReads(ctx, rs)
			if err != nil {
				return 0, 0, err
			}
			groups = append(groups, readGroup{bytes: total / float64(k), time: t})
			d.step()
		}
	}
	rec := man.WordRowBytes
	var rs []blobRead
	for _, id := range d.rng.Perm(c.VocabSize)[:min(4*k, c.VocabSize)] {
		rs = append(rs, blobRead{key: shardstore.WordKey, off: int64(id) * int64(rec), n: rec})
	}
	t, err := d.timeReads(ctx, rs)
	if err != nil {
		return 0, 0, err
	}
	groups = append(groups, readGroup{bytes: float64(rec), time: t})
	d.step()
	bw, lat, err = fitReads(groups)
	return bw, lat, err
}

// fitReads fits time = lat + bytes/bw by least squares. A negative
// intercept (noise around a latency near zero) is taken as zero latency,
// with the bandwidth refitted through the origin.
func fitReads(groups []readGroup) (float64, time.Duration, error) {
	var mx, my float64
	for _, g := range groups {
		mx += g.bytes
		my += g.time.Seconds()
	}
	n := float64(len(groups))
	mx, my = mx/n, my/n
	var sxx, sxy float64
	for _, g := range groups {
		dx := g.bytes - mx
		sxx += dx * dx
		sxy += dx * (g.time.Seconds() - my)
	}
	if sxx == 0 {
		return 0, 0, fmt.Errorf("cannot fit bandwidth: all %d read groups have the same size", len(groups))
	}
	slope := sxy / sxx
	icept := my - slope*mx
	if icept < 0 || slope <= 0 {
		// Through the origin: slope = Σxy / Σxx.
		var xy, xx float64
		for _, g := range groups {
			xy += g.bytes * g.time.Seconds()
			xx += g.bytes * g.bytes
		}
		slope, icept = xy/xx, 0
	}
	if !(slope > 0) {
		return 0, 0, fmt.Errorf("cannot fit bandwidth: reads took no measurable time (%+v)", groups)
	}
	return 1 / slope, time.Duration(icept * 1e9), nil
}

// compute fills the compute table and the dequantization factors.
func (d *deviceRun) compute(ctx context.Context) (plan.ComputeTable, []plan.DequantFactor, error) {
	c := d.cfg
	o := d.opts
	skel, err := d.store.Skeleton(ctx)
	if err != nil {
		return plan.ComputeTable{}, nil, err
	}
	// Layer 0's shards at every fidelity, each version in its own buffer,
	// as the executor holds them.
	type shards struct {
		attn []*bert.AttentionShard
		ffn  []*bert.FFNShard
	}
	byFid := make([]shards, len(d.fids))
	for i, f := range d.fids {
		for h := range c.Heads {
			a, err := d.store.ReadShard(ctx, shardstore.Key{Layer: 0, Head: h, Part: shardstore.Attention, Fidelity: f}, nil)
			if err != nil {
				return plan.ComputeTable{}, nil, err
			}
			ff, err := d.store.ReadShard(ctx, shardstore.Key{Layer: 0, Head: h, Part: shardstore.FFN, Fidelity: f}, nil)
			if err != nil {
				return plan.ComputeTable{}, nil, err
			}
			byFid[i].attn = append(byFid[i].attn, a.Attention)
			byFid[i].ffn = append(byFid[i].ffn, ff.FFN)
		}
	}
	res := &skel.Layers[0].Resident
	top := len(d.fids) - 1
	// The executor computes each streamed shard once, just read, with
	// nothing of it in the core's caches; timed again and again, layer 0's
	// shards would be. So every timed layer starts with the caches filled
	// with other memory: with integer kernels the products of a few dozen
	// tokens are bound by fetching their weights.
	flush := make([]byte, cacheFlushBytes)
	evict := func() {
		for i := 0; i < len(flush); i += 64 {
			flush[i]++
		}
	}
	runLayer := func(p *bert.Pass, x0 []float32, s shards, n int) (time.Duration, error) {
		if err := p.SetHidden(x0); err != nil {
			return 0, err
		}
		evict()
		start := time.Now()
		p.BeginLayer()
		for _, a := range s.attn[:n] {
			p.AddAttention(a)
		}
		p.EndAttention(res)
		for _, f := range s.ffn[:n] {
			p.AddFFN(f)
		}
		p.EndLayer(res)
		return time.Since(start), nil
	}

	t := plan.ComputeTable{SeqLens: slices.Clone(o.SeqLens), ShardCounts: slices.Clone(o.ShardCounts)}
	factors := make([]float64, len(d.fids))
	for _, S := range o.SeqLens {
		if err := ctx.Err(); err != nil {
			return plan.ComputeTable{}, nil, err
		}
		// Random ids; their rows are read once, then served from memory so
		// that the embedding is timed without IO.
		ids := make([]int, S)
		for i := range ids {
			ids[i] = d.rng.IntN(c.VocabSize)
		}
		rows := make([]float32, S*c.Hidden)
		if err := skel.Embeddings.Word.Rows(ctx, ids, rows); err != nil {
			return plan.ComputeTable{}, nil, err
		}
		emb := skel.Embeddings
		emb.Word = &bert.DenseWordEmbeddings{Hidden: c.Hidden, Data: rows}
		local := make([]int, S)
		for i := range local {
			local[i] = i
		}
		p := bert.NewPass(d.be, c, S)
		p.UseInt8(true) // as the executor runs int8 and 4-bit shards
		embed := make([]time.Duration, o.Repeats)
		for r := range embed {
			start := time.Now()
			if err := p.Embed(ctx, &emb, local, nil); err != nil {
				return plan.ComputeTable{}, nil, err
			}
			embed[r] = time.Since(start)
		}
		t.Embed = append(t.Embed, stats.Median(embed))
		d.step()
		x0 := slices.Clone(p.Hidden())

		// A warm-up layer (not kept) wakes the backend's helpers and brings
		// the shards into cache, as in a run of many requests.
		if _, err := runLayer(p, x0, byFid[top], c.Heads); err != nil {
			return plan.ComputeTable{}, nil, err
		}
		// Repetitions go round the shard counts so that a slow moment
		// spreads over all of them instead of skewing one.
		times := make([][]time.Duration, len(o.ShardCounts))
		for range o.Repeats {
			for j, n := range o.ShardCounts {
				el, err := runLayer(p, x0, byFid[top], n)
				if err != nil {
					return plan.ComputeTable{}, nil, err
				}
				times[j] = append(times[j], el)
			}
			if err := ctx.Err(); err != nil {
				return plan.ComputeTable{}, nil, err
			}
		}
		row := make([]time.Duration, len(times))
		for j := range times {
			row[j] = stats.Median(times[j])
			d.step()
		}
		t.Layer = append(t.Layer, row)

		if err := p.SetHidden(x0); err != nil {
			return plan.ComputeTable{}, nil, err
		}
		head := make([]time.Duration, o.Repeats)
		for r := range head {
			start := time.Now()
			p.Logits(&skel.Head)
			head[r] = time.Since(start)
		}
		t.Head = append(t.Head, stats.Median(head))
		d.step()

		// Dequantization: a full layer at each fidelity, round-robin.
		ft := make([][]time.Duration, len(d.fids))
		for range o.Repeats {
			for i := range d.fids {
				el, err := runLayer(p, x0, byFid[i], c.Heads)
				if err != nil {
					return plan.ComputeTable{}, nil, err
				}
				ft[i] = append(ft[i], el)
			}
			if err := ctx.Err(); err != nil {
				return plan.ComputeTable{}, nil, err
			}
		}
		base := float64(row[0])
		ref := float64(stats.Median(ft[top])) - base
		for i := range d.fids {
			f := float64(stats.Median(ft[i])) - base
			if ref <= 0 || f <= 0 {
				// The shards' share is lost in the noise: compare whole layers.
				f, ref = float64(stats.Median(ft[i])), float64(stats.Median(ft[top]))
			}
			factors[i] = max(factors[i], f/ref)
			d.step()
		}
	}
	var dq []plan.DequantFactor
	for i, f := range d.fids {
		dq = append(dq, plan.DequantFactor{Bits: f, Factor: factors[i]})
	}
	return t, dq, nil
}
