package plan

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/wrxlabs/wrx/quant"
)

// The planners work on a compact internal form of the problem. Shards are
// numbered s = layer*Heads + head. A plan is an assignment opt[s] of one
// option per shard:
//
//	optDrop      the shard does not run
//	0 … F-1      the shard is streamed at fidelity index f
//	F … 2F-1     the shard's resident version, at fidelity index o-F, is used
//
// All times are int64 nanoseconds.

const optDrop int16 = -1

// noW marks a layer with no streamed blob. It is far enough from the int64
// limits that adding a few durations to it cannot overflow.
const noW = math.MinInt64 / 4

// static holds the sequence-length independent tables of a planner.
type static struct {
	prof    *Profiles
	L, H, F int
	N       int // L*H shards
	bits    []quant.Fidelity
	ioA     []int64 // [s*F+f] read time of the attention blob
	ioF     []int64 // [s*F+f] read time of the FFN blob
	byA     []int64 // [s*F+f] bytes of the attention blob
	byF     []int64 // [s*F+f] bytes of the FFN blob
	held    []int64 // [s*F+f] what the version holds decoded besides its blobs
	lossv   []float64
	dropped []float64
	dq      []float64 // [f] dequantisation factor
	order   []int32   // shards by decreasing Dropped loss (greedy stage 1)
	steps   []upgrade // fidelity upgrades by decreasing loss per byte

	// ioScaled caches the read times of the last IO scale requests were
	// planned at: the slack changes far less often than requests come.
	ioScaled atomic.Pointer[scaledIO]
}

// scaledIO is ioA and ioF stretched by f.
type scaledIO struct {
	f        float64
	ioA, ioF []int64
	st       *static // the static tables with ioA and ioF
}

func newStatic(prof *Profiles) *static {
	g, im, d := prof.Geometry, prof.Importance, prof.Device
	st := &static{prof: prof, L: g.Layers, H: g.Heads, F: len(g.Bits), bits: g.Bits}
	st.N = st.L * st.H
	n := st.N * st.F
	st.ioA, st.ioF = make([]int64, n), make([]int64, n)
	st.byA, st.byF, st.held = make([]int64, n), make([]int64, n), make([]int64, n)
	st.lossv, st.dropped = make([]float64, n), make([]float64, st.N)
	imIdx := make([]int, st.F)
	for f, b := range g.Bits {
		for i, c := range im.Bits {
			if c == b {
				imIdx[f] = i
			}
		}
	}
	st.dq = make([]float64, st.F)
	for f, b := range g.Bits {
		st.dq[f] = d.DequantFactor(b)
	}
	for l := 0; l < st.L; l++ {
		for h := 0; h < st.H; h++ {
			s := l*st.H + h
			st.dropped[s] = im.Shards[l][h].Dropped
			for f := 0; f < st.F; f++ {
				sz := g.Sizes[l][h][f]
				i := s*st.F + f
				st.byA[i], st.byF[i], st.held[i] = sz.Attn, sz.FFN, sz.Held
				// The IO side reads a blob, then checks and decodes it.
				decA, decF := d.DecodeTimes(g.Bits[f])
				st.ioA[i], st.ioF[i] = int64(d.ReadTime(sz.Attn)+decA), int64(d.ReadTime(sz.FFN)+decF)
				st.lossv[i] = im.Shards[l][h].Loss[imIdx[f]]
			}
		}
	}
	st.greedyTables()
	return st
}

func durNS(ns int64) time.Duration { return time.Duration(ns) }

func (st *static) optLoss(s int, o int16) float64 {
	switch {
	case o < 0:
		return st.dropped[s]
	case int(o) < st.F:
		return st.lossv[s*st.F+int(o)]
	}
	return st.lossv[s*st.F+int(o)-st.F]
}

// shardBytes is the size of both blobs of shard s at fidelity index f.
func (st *static) shardBytes(s, f int) int64 { return st.byA[s*st.F+f] + st.byF[s*st.F+f] }

// heldBytes is the memory shard s at fidelity index f takes preloaded:
// its blobs and what it holds decoded (BlobSizes.Held). Unlike blob sizes
// it need not grow with fidelity: 2- and 3-bit codes spread into nibbles
// hold more than 4-bit ones, which are viewed in place.
func (st *static) heldBytes(s, f int) int64 { return st.shardBytes(s, f) + st.held[s*st.F+f] }

func (st *static) version(s, f int) ShardVersion {
	return ShardVersion{Layer: s / st.H, Head: s % st.H, Bits: st.bits[f], Bytes: st.shardBytes(s, f)}
}

// maxBytes is the size of the whole model at its highest fidelity.
func (st *static) maxBytes() int64 {
	var sum int64
	for s := 0; s < st.N; s++ {
		sum += st.shardBytes(s, st.F-1)
	}
	return sum
}

func (st *static) fidIndex(b quant.Fidelity) int {
	for i, c := range st.bits {
		if c == b {
			return i
		}
	}
	return -1
}

// resident converts a preload set into res[s] = fidelity index of the
// resident version of shard s, or -1.
func (st *static) resident(pre *Preload) ([]int8, int64, error) { return st.residentIn(nil, pre) }

// residentIn is resident with res taken from ws.
func (st *static) residentIn(ws *scratch, pre *Preload) ([]int8, int64, error) {
	res := ws.int8s(st.N)
	for i := range res {
		res[i] = -1
	}
	var total int64
	for _, v := range pre.Shards {
		if v.Layer < 0 || v.Layer >= st.L || v.Head < 0 || v.Head >= st.H {
			return nil, 0, fmt.Errorf("plan: preload names layer %d head %d, outside the model's %d layers × %d heads", v.Layer, v.Head, st.L, st.H)
		}
		f := st.fidIndex(v.Bits)
		if f < 0 {
			return nil, 0, fmt.Errorf("plan: preload holds layer %d head %d at %d bits, which the model does not store", v.Layer, v.Head, v.Bits)
		}
		s := v.Layer*st.H + v.Head
		if res[s] >= 0 {
			return nil, 0, fmt.Errorf("plan: preload holds layer %d head %d twice", v.Layer, v.Head)
		}
		if b := st.shardBytes(s, f); v.Bytes != 0 && v.Bytes != b {
			return nil, 0, fmt.Errorf("plan: preload says layer %d head %d at %d bits is %d bytes, the model's version is %d", v.Layer, v.Head, v.Bits, v.Bytes, b)
		}
		res[s] = int8(f)
		total += st.heldBytes(s, f)
	}
	return res, total, nil
}

// assignment converts a plan's layer choices back to the internal form.
func (st *static) assignment(plan *Plan, res []int8) ([]int16, error) {
	if len(plan.Layers) != st.L {
		return nil, fmt.Errorf("plan has %d layers, the model %d", len(plan.Layers), st.L)
	}
	opt := make([]int16, st.N)
	for i := range opt {
		opt[i] = optDrop
	}
	for l, lp := range plan.Layers {
		if lp.Layer != l {
			return nil, fmt.Errorf("plan's layer %d is labelled %d", l, lp.Layer)
		}
		for _, c := range lp.Shards {
			if c.Head < 0 || c.Head >= st.H {
				return nil, fmt.Errorf("plan's layer %d runs head %d of %d", l, c.Head, st.H)
			}
			s := l*st.H + c.Head
			if opt[s] != optDrop {
				return nil, fmt.Errorf("plan's layer %d runs head %d twice", l, c.Head)
			}
			f := st.fidIndex(c.Bits)
			if f < 0 {
				return nil, fmt.Errorf("plan runs layer %d head %d at %d bits, which the model does not store", l, c.Head, c.Bits)
			}
			if c.Preloaded {
				if int(res[s]) != f {
					return nil, fmt.Errorf("plan uses a resident layer %d head %d at %d bits that its preload set does not hold", l, c.Head, c.Bits)
				}
				opt[s] = int16(st.F + f)
			} else {
				opt[s] = int16(f)
			}
		}
	}
	return opt, nil
}

// problem is one planning instance: the static tables plus the compute
// times at one sequence length.
type problem struct {
	*static
	S, K            int
	rows            RowReads
	ioScale         float64 // read time factor (Request.Scale.IO); 0 means 1
	embedIO, embedC int64   // embedding rows' read time, embedding compute
	headC           int64
	fixA, fixF      int64   // a layer's fixed compute after its attention and FFN halves
	half            []int64 // [n*F+f] one half of a shard's compute in a layer running n shards
	// mergeBytes, when positive, models the executor's merged reads
	// (Options.MaxReadBytes): a run of streamed blobs of consecutive heads
	// at one fidelity within a layer's part, of at most mergeBytes bytes
	// and as many blobs as the executor allows (readRuns), is one read,
	// which pays the read latency (lat, as scaled) once; and the streamed
	// shards of a layer are read, and computed, by fidelity, then head, so
	// that such runs are long.
	mergeBytes int64
	lat        int64
	ws         *scratch
}

func (st *static) problem(seqLen, k int, rows RowReads) *problem {
	return st.problemIn(nil, seqLen, k, rows)
}

// problemIn is problem with its memory, and that of the problems and
// assignments derived from it, taken from ws.
func (st *static) problemIn(ws *scratch, seqLen, k int, rows RowReads) *problem {
	d := st.prof.Device
	p := ws.problem()
	*p = problem{static: st, S: seqLen, K: k, rows: rows, ws: ws, lat: int64(d.ReadLatency)}
	p.readRows(seqLen)
	p.embedC = int64(d.EmbedTime(seqLen))
	p.headC = int64(d.HeadTime(seqLen))
	lt := ws.int64s(st.H + 1)
	for n := range lt {
		lt[n] = int64(d.LayerTime(n, seqLen))
		if n > 0 && lt[n] < lt[n-1] {
			lt[n] = lt[n-1] // measured noise must not make more shards cheaper
		}
	}
	p.fixA = lt[0] / 2
	p.fixF = lt[0] - p.fixA
	p.half = ws.int64s((st.H + 1) * st.F)
	for n := 1; n <= st.H; n++ {
		per := float64(lt[n]-lt[0]) / float64(2*n)
		for f := 0; f < st.F; f++ {
			p.half[n*st.F+f] = int64(math.Ceil(per * st.dq[f]))
		}
	}
	return p
}

// readRows sets the embedding read time to that of n word rows: the
// request's tokens whose rows are not in the preload buffer.
func (p *problem) readRows(n int) {
	n = max(n, 0)
	d, rowBytes := p.prof.Device, p.prof.Geometry.EmbeddingRowBytes
	switch {
	case n == 0:
		p.embedIO = 0
	case p.rows == RowReadsBatched:
		p.embedIO = scaleNS(int64(d.ReadTime(int64(n)*rowBytes)), p.ioScale)
	default:
		p.embedIO = scaleNS(int64(d.RowsTime(n, rowBytes)), p.ioScale)
	}
}

// scaleNS is ns stretched by f, rounded up; f of 0 or 1 leaves it.
func scaleNS(ns int64, f float64) int64 {
	if f == 0 || f == 1 {
		return ns
	}
	return int64(math.Ceil(float64(ns) * f))
}

// withIO returns a copy of st, its tables shared, reading with sc's times.
func (st *static) withIO(sc *scaledIO) *static {
	return &static{prof: st.prof, L: st.L, H: st.H, F: st.F, N: st.N, bits: st.bits, ioA: sc.ioA, ioF: sc.ioF,
		byA: st.byA, byF: st.byF, held: st.held, lossv: st.lossv, dropped: st.dropped, dq: st.dq, order: st.order, steps: st.steps}
}

// scaleAll is scaleNS over xs, into a new slice from ws.
func scaleAll(ws *scratch, xs []int64, f float64) []int64 {
	out := ws.int64s(len(xs))
	for i, x := range xs {
		out[i] = scaleNS(x, f)
	}
	return out
}

// scaled returns p with its read times stretched by sc.IO and its compute
// times by sc.Compute (p itself when both are 1). The static tables it
// shares with other problems are not modified: the scaled read times are
// a copy. Call readRows after it.
func (p *problem) scaled(sc Scale) *problem {
	io, c := sc.io(), sc.compute()
	if io == 1 && c == 1 {
		return p
	}
	q := p.ws.problem()
	*q = *p
	if io != 1 {
		sc := p.static.ioScaled.Load()
		if sc == nil || sc.f != io {
			sc = &scaledIO{f: io, ioA: scaleAll(nil, p.ioA, io), ioF: scaleAll(nil, p.ioF, io)}
			sc.st = p.static.withIO(sc)
			p.static.ioScaled.Store(sc)
		}
		q.static = sc.st
		q.ioScale = io
		q.embedIO = scaleNS(p.embedIO, io)
		q.lat = scaleNS(p.lat, io)
	}
	if c != 1 {
		q.embedC, q.headC = scaleNS(p.embedC, c), scaleNS(p.headC, c)
		q.fixA, q.fixF = scaleNS(p.fixA, c), scaleNS(p.fixF, c)
		q.half = scaleAll(p.ws, p.half, c)
	}
	return q
}

// uniformCompute returns p with every fidelity's per-shard compute set to
// the slowest one's.
func (p *problem) uniformCompute() *problem {
	q := p.ws.problem()
	*q = *p
	q.half = p.ws.clone64(p.half)
	for n := 0; n <= p.H; n++ {
		row := q.half[n*p.F : (n+1)*p.F]
		slowest := slices.Max(row)
		for f := range row {
			row[f] = slowest
		}
	}
	return q
}

// flatCompute returns p with every shard's compute, at any shard count and
// fidelity, set to the smallest of them, so that a layer's items do not
// change when its shard count does.
func (p *problem) flatCompute() *problem {
	q := p.ws.problem()
	*q = *p
	q.half = p.ws.clone64(p.half)
	least := int64(math.MaxInt64)
	for _, d := range p.half[p.F:] {
		least = min(least, d)
	}
	for i := p.F; i < len(q.half); i++ {
		q.half[i] = least
	}
	return q
}

func (p *problem) loss(opt []int16) float64 { return lossOf(p.static, opt) }

// allDropped is the latency of the plan that runs no shard: the smallest
// latency any plan has.
func (p *problem) allDropped() int64 {
	return p.embedIO + p.embedC + int64(p.L)*(p.fixA+p.fixF) + p.headC
}

func (p *problem) emptyOpt() []int16 {
	opt := p.ws.int16s(p.N)
	for i := range opt {
		opt[i] = optDrop
	}
	return opt
}

// layerSum summarises layer k under opt, with shard s replaced by option o
// (s = -1 for no replacement): the read time of its streamed blobs (io), its
// compute (c), and w, the largest over its streamed blobs of (read time of
// the layer's blobs up to and including that one) + (compute from that
// blob's item to the end of the layer), or noW when nothing is streamed.
//
// With K unbounded the model's latency is then exactly the largest of
//
//	embedIO + embedC + Σ c + head                      (compute bound)
//	embedIO + Σ_{l<k} io_l + w_k + Σ_{l>k} c_l + head  (layer k's IO bound)
//
// since a compute stream with release times finishes at the latest
// (release + remaining work) over its items.
func (p *problem) layerSum(k int, opt []int16, s int, o int16) (io, c, w int64) {
	base := k * p.H
	n := 0
	for h := 0; h < p.H; h++ {
		x := opt[base+h]
		if base+h == s {
			x = o
		}
		if x >= 0 {
			n++
		}
	}
	if n == 0 {
		return 0, p.fixA + p.fixF, noW
	}
	F := p.F
	row := p.half[n*F : (n+1)*F]
	var ioA, ioFF, pre, sumA, sumF int64
	wa, wf := int64(noW), int64(noW)
	for h := 0; h < p.H; h++ {
		sh := base + h
		x := opt[sh]
		if sh == s {
			x = o
		}
		if x < 0 {
			continue
		}
		if int(x) >= F {
			pre += row[int(x)-F]
			continue
		}
		f := int(x)
		d := row[f]
		ioA += p.ioA[sh*F+f]
		if v := ioA - sumA; v > wa {
			wa = v
		}
		sumA += d
		ioFF += p.ioF[sh*F+f]
		if v := ioFF - sumF; v > wf {
			wf = v
		}
		sumF += d
	}
	c = 2*pre + sumA + sumF + p.fixA + p.fixF
	if wa == noW {
		return 0, c, noW
	}
	// An attention blob i finishes the layer after c - pre - (streamed
	// attention compute before i); an FFN blob after the FFN compute from
	// it on plus the fixed part.
	w = max(wa+c-pre, ioA+wf+sumF+p.fixF)
	return ioA + ioFF, c, w
}

// shardCtx is layer k decomposed around one shard s, so that the layer's
// summary for every option of s costs O(1) after an O(Heads) setup.
type shardCtx struct {
	p   *problem
	s   int
	row []int64 // per-shard half compute with s kept
	// Others' totals: streamed attention/FFN read time and compute before s
	// (b) and after s (a) in head order, preloaded compute, streamed count.
	ioAb, sumAb, ioFb, sumFb int64
	ioAa, sumAa, ioFa, sumFa int64
	pre                      int64
	streamed                 int
	// waB, wfB: max over streamed blobs before s of (read time so far -
	// compute of the section's earlier streamed items); mA, mF: the same
	// for blobs after s, relative to the first blob after s.
	waB, wfB, mA, mF int64
	// The summary with s dropped.
	dropIO, dropC, dropW int64
}

func (p *problem) shardCtx(k int, opt []int16, s int) shardCtx {
	x := shardCtx{p: p, s: s}
	x.dropIO, x.dropC, x.dropW = p.layerSum(k, opt, s, optDrop)
	base, F := k*p.H, p.F
	n := 1
	for h := 0; h < p.H; h++ {
		if base+h != s && opt[base+h] >= 0 {
			n++
		}
	}
	x.row = p.half[n*F : (n+1)*F]
	x.waB, x.wfB, x.mA, x.mF = noW, noW, noW, noW
	for h := 0; h < p.H; h++ {
		sh := base + h
		o := int(opt[sh])
		if sh == s || o < 0 {
			continue
		}
		if o >= F {
			x.pre += x.row[o-F]
			continue
		}
		d := x.row[o]
		x.streamed++
		if sh < s {
			x.ioAb += p.ioA[sh*F+o]
			x.waB = max(x.waB, x.ioAb-x.sumAb)
			x.sumAb += d
			x.ioFb += p.ioF[sh*F+o]
			x.wfB = max(x.wfB, x.ioFb-x.sumFb)
			x.sumFb += d
		} else {
			x.ioAa += p.ioA[sh*F+o]
			x.mA = max(x.mA, x.ioAa-x.sumAa)
			x.sumAa += d
			x.ioFa += p.ioF[sh*F+o]
			x.mF = max(x.mF, x.ioFa-x.sumFa)
			x.sumFa += d
		}
	}
	return x
}

// eval is layerSum(k, opt, s, o) in O(1).
func (x *shardCtx) eval(o int16) (io, c, w int64) {
	if o < 0 {
		return x.dropIO, x.dropC, x.dropW
	}
	p, F := x.p, x.p.F
	f := int(o)
	pre, streamed := x.pre, x.streamed
	var ta, tf, d int64
	if f >= F {
		f -= F
		pre += x.row[f]
	} else {
		ta, tf, d = p.ioA[x.s*F+f], p.ioF[x.s*F+f], x.row[f]
		streamed++
	}
	c = 2*pre + x.sumAb + x.sumAa + x.sumFb + x.sumFa + 2*d + p.fixA + p.fixF
	if streamed == 0 {
		return 0, c, noW
	}
	ioA := x.ioAb + ta + x.ioAa
	sumF := x.sumFb + d + x.sumFa
	wa, wf := x.waB, x.wfB
	if int(o) < F {
		wa = max(wa, x.ioAb+ta-x.sumAb)
		wf = max(wf, x.ioFb+tf-x.sumFb)
	}
	if x.mA != noW {
		wa = max(wa, x.ioAb+ta-x.sumAb-d+x.mA)
		wf = max(wf, x.ioFb+tf-x.sumFb-d+x.mF)
	}
	w = max(wa+c-pre, ioA+wf+sumF+p.fixF)
	return ioA + x.ioFb + tf + x.ioFa, c, w
}

// eval keeps the layer summaries of an assignment so that the unbounded-K
// latency of a one-shard change costs O(Heads) instead of a simulation.
type eval struct {
	p        *problem
	opt      []int16
	io, c, w []int64
	a, cs    []int64 // a[k]: IO clock when layer k's reads start; cs[k]: compute after layer k (head included)
	pre, suf []int64 // pre[k]: max(compute bound, bounds of layers < k); suf[k]: max bound of layers > k
	lat      int64
}

func newEval(p *problem, opt []int16) *eval {
	e := p.ws.eval()
	*e = eval{p: p, opt: opt}
	all := p.ws.int64s(7 * p.L)
	part := func(i int) []int64 { return all[i*p.L : (i+1)*p.L : (i+1)*p.L] }
	e.io, e.c, e.w = part(0), part(1), part(2)
	e.a, e.cs = part(3), part(4)
	e.pre, e.suf = part(5), part(6)
	for k := 0; k < p.L; k++ {
		e.io[k], e.c[k], e.w[k] = p.layerSum(k, opt, -1, 0)
	}
	e.refresh()
	return e
}

func (e *eval) term(k int) int64 {
	if e.w[k] == noW {
		return noW
	}
	return e.a[k] + e.w[k] + e.cs[k]
}

func (e *eval) refresh() {
	p := e.p
	a := p.embedIO
	for k := 0; k < p.L; k++ {
		e.a[k] = a
		a += e.io[k]
	}
	cs := p.headC
	for k := p.L - 1; k >= 0; k-- {
		e.cs[k] = cs
		cs += e.c[k]
	}
	e.pre[0] = p.embedIO + p.embedC + cs
	for k := 1; k < p.L; k++ {
		e.pre[k] = max(e.pre[k-1], e.term(k-1))
	}
	e.suf[p.L-1] = noW
	for k := p.L - 2; k >= 0; k-- {
		e.suf[k] = max(e.suf[k+1], e.term(k+1))
	}
	e.lat = max(e.pre[p.L-1], e.term(p.L-1))
}

// try returns the unbounded-K latency with shard s switched to option o,
// and the change of its layer's IO and compute.
func (e *eval) try(s int, o int16) (lat, dio, dc int64) {
	k := s / e.p.H
	io, c, w := e.p.layerSum(k, e.opt, s, o)
	dio, dc = io-e.io[k], c-e.c[k]
	lat = e.pre[k] + dc
	if w != noW {
		lat = max(lat, e.a[k]+w+e.cs[k])
	}
	if e.suf[k] != noW {
		lat = max(lat, e.suf[k]+dio)
	}
	return lat, dio, dc
}

// tryCtx is try for a summary from shardCtx.eval of shard s's layer.
func (e *eval) tryCtx(k int, io, c, w int64) (lat, dio, dc int64) {
	dio, dc = io-e.io[k], c-e.c[k]
	lat = e.pre[k] + dc
	if w != noW {
		lat = max(lat, e.a[k]+w+e.cs[k])
	}
	if e.suf[k] != noW {
		lat = max(lat, e.suf[k]+dio)
	}
	return lat, dio, dc
}

// set switches shard s to option o.
func (e *eval) set(s int, o int16) {
	e.opt[s] = o
	k := s / e.p.H
	e.io[k], e.c[k], e.w[k] = e.p.layerSum(k, e.opt, -1, 0)
	e.refresh()
}

// simulate runs the timing model with the K-blob buffer bound and returns
// the latency; t, when not nil, receives the per-layer windows and compute
// orders. Each layer runs its resident shards first (they need no IO, so
// they cover the wait for the first blob), then its streamed shards in
// head order, which is the IO order.
func (p *problem) simulate(opt []int16, t *Timing) int64 {
	return p.simulateOrder(opt, nil, t)
}

// simulateOrder is simulate with, when orders is not nil, each layer's
// compute order given as heads; the IO stream reads the streamed ones in
// that order.
func (p *problem) simulateOrder(opt []int16, orders [][]int, t *Timing) int64 {
	F, K := p.F, p.K
	io := p.embedIO
	clk := io + p.embedC
	// Small fixed arrays keep the simulation, run thousands of times per
	// plan, off the heap.
	var ringArr [16]int64
	var ring []int64
	if K > len(ringArr) {
		ring = make([]int64, K)
	} else if K > 0 {
		ring = ringArr[:K]
	}
	// runs[j] is, for blob j that starts a read, the index of the run's
	// last blob, and -1 for the others; runIO[j] is that read's time.
	var runsArr [320]int32
	var runIOArr [320]int64
	runs, runIO := runsArr[:0], runIOArr[:0]
	if p.mergeBytes > 0 {
		runs, runIO = p.readRuns(opt, orders, runs, runIO)
	}
	j := 0 // index of the next streamed blob
	// stream reads blob j (taking tau) and computes its item (taking d).
	// A blob that starts a merged read waits for the buffers of the whole
	// run, and every blob of the run arrives when the read ends.
	stream := func(tau, d int64) (begin int64) {
		last := j
		if len(runs) > 0 {
			last = int(runs[j])
			tau = runIO[j]
		}
		if last >= 0 {
			start := io
			if K > 0 && last >= K && ring[last%K] > start {
				start = ring[last%K]
			}
			io = start + tau
		}
		begin = max(clk, io)
		clk = begin + d
		if K > 0 {
			ring[j%K] = clk
		}
		j++
		return begin
	}
	var seqArr [64]int
	seq := seqArr[:0]
	for k := 0; k < p.L; k++ {
		base := k * p.H
		n := 0
		for h := 0; h < p.H; h++ {
			if opt[base+h] >= 0 {
				n++
			}
		}
		row := p.half[n*F : (n+1)*F]
		seq = p.layerOrder(opt, orders, k, seq[:0])
		start := int64(-1)
		for part := 0; part < 2; part++ {
			for _, h := range seq {
				x := int(opt[base+h])
				if x >= F {
					if start < 0 {
						start = clk
					}
					clk += row[x-F]
					continue
				}
				tau := p.ioA[(base+h)*F+x]
				if part == 1 {
					tau = p.ioF[(base+h)*F+x]
				}
				if b := stream(tau, row[x]); start < 0 {
					start = b
				}
			}
			if start < 0 {
				start = clk
			}
			if part == 0 {
				clk += p.fixA
			} else {
				clk += p.fixF
			}
		}
		if t != nil {
			order := p.ws.ints(len(seq))
			copy(order, seq)
			t.Layers[k] = LayerTiming{Start: durNS(start), Finish: durNS(clk), Order: order}
		}
	}
	if t != nil {
		t.EmbeddingRead = durNS(p.embedIO)
		t.IOEnd = durNS(io)
	}
	return clk + p.headC
}

// busy returns the time opt keeps the device reading (word rows and
// streamed blobs) and the time it computes (embedding, layers, head).
func (p *problem) busy(opt []int16) (io, c int64) {
	io, c = p.embedIO, p.embedC+p.headC
	for k := range p.L {
		lio, lc, _ := p.layerSum(k, opt, -1, 0)
		io += lio
		c += lc
	}
	if p.mergeBytes > 0 {
		// The reads are the merged runs, each paying the latency once.
		io = p.embedIO
		_, runIO := p.readRuns(opt, nil, nil, nil)
		for _, t := range runIO {
			io += t
		}
	}
	return io, c
}

// ioOrder lists the reads of opt in stream order; orders, when not nil,
// gives each layer's shard order (otherwise head order).
func (p *problem) ioOrder(opt []int16, orders [][]int) []BlobRead {
	F := p.F
	n := 0
	for _, x := range opt {
		if x >= 0 && int(x) < F {
			n += 2
		}
	}
	out := make([]BlobRead, 0, n)
	var seqArr [64]int
	for k := 0; k < p.L; k++ {
		seq := p.layerOrder(opt, orders, k, seqArr[:0])
		for _, part := range [...]Part{Attention, FFN} {
			for _, h := range seq {
				s := k*p.H + h
				x := int(opt[s])
				if x < 0 || x >= F {
					continue
				}
				b := p.byA[s*F+x]
				if part == FFN {
					b = p.byF[s*F+x]
				}
				out = append(out, BlobRead{Layer: k, Head: h, Part: part, Bits: p.bits[x], Bytes: b})
			}
		}
	}
	return out
}

// materialize turns an assignment into a Plan (without strategy, target
// and budget, which the caller fills in). The plan is the caller's: none
// of it is in p's scratch.
func (p *problem) materialize(opt []int16, res []int8) *Plan {
	plan := &Plan{SeqLen: p.S, RowReads: p.rows, InFlightBlobs: p.K, MaxReadBytes: p.mergeBytes}
	t := &Timing{Layers: p.ws.layerTimings(p.L)}
	plan.PredictedLatency = durNS(p.simulate(opt, t))
	plan.PredictedLoss = p.loss(opt)
	io, c := p.busy(opt)
	plan.PredictedIO, plan.PredictedCompute = durNS(io), durNS(c)
	running, resident := 0, 0
	for s, x := range opt {
		if x >= 0 {
			running++
		}
		if res[s] >= 0 {
			resident++
		}
	}
	// One allocation for every layer's choices: a request's plan is
	// built per request.
	choices := make([]ShardChoice, running)
	plan.Layers = make([]LayerPlan, p.L)
	for k := 0; k < p.L; k++ {
		order := t.Layers[k].Order
		lp := LayerPlan{Layer: k, Shards: choices[:0:len(order)], Start: t.Layers[k].Start, Finish: t.Layers[k].Finish}
		choices = choices[len(order):]
		for _, h := range order {
			x := int(opt[k*p.H+h])
			switch {
			case x >= p.F:
				lp.Shards = append(lp.Shards, ShardChoice{Head: h, Bits: p.bits[x-p.F], Preloaded: true})
			default:
				lp.Shards = append(lp.Shards, ShardChoice{Head: h, Bits: p.bits[x]})
			}
		}
		plan.Layers[k] = lp
	}
	plan.IO = p.ioOrder(opt, nil)
	var largest int64
	for _, r := range plan.IO {
		largest = max(largest, r.Bytes)
	}
	plan.InFlightBytes = int64(p.K) * largest
	plan.Preload = make([]ShardVersion, 0, resident)
	for s, f := range res {
		if f >= 0 {
			v := p.version(s, int(f))
			plan.Preload = append(plan.Preload, v)
			plan.PreloadBytes += p.heldBytes(s, int(f))
		}
	}
	return plan
}

// mergeReads makes p model the executor's merged reads of up to bytes
// bytes (ExecOptions.MaxReadBytes) when bytes is positive and the store
// lays blobs out contiguously (Geometry.Contiguous). It returns p.
func (p *problem) mergeReads(bytes int64) *problem {
	if bytes > 0 && p.prof.Geometry.Contiguous {
		p.mergeBytes = bytes
	}
	return p
}

// runBlobs is the most blobs one merged read of a stream of n blobs
// holds, as the executor splits its buffers: it has min(K, n) of them,
// one per blob in flight, and keeps up to the profile's read queue of
// reads in flight, so a run takes a share of the buffers per read.
func (p *problem) runBlobs(n int) int {
	slots := n
	if p.K > 0 {
		slots = min(p.K, n)
	}
	q := min(max(p.prof.Device.ReadQueue, 1), max(slots, 1))
	return max(slots/q, 1)
}

// layerOrder appends to seq layer k's running shards in compute order:
// orders[k] when orders is not nil; else the resident ones, then the
// streamed ones in the order the stream reads them: by head, or, when
// reads merge, by fidelity and then head, so that the heads read at one
// fidelity are consecutive in the stream as they are in storage.
func (p *problem) layerOrder(opt []int16, orders [][]int, k int, seq []int) []int {
	if orders != nil {
		return append(seq, orders[k]...)
	}
	base, F := k*p.H, p.F
	for h := 0; h < p.H; h++ {
		if int(opt[base+h]) >= F {
			seq = append(seq, h)
		}
	}
	if p.mergeBytes <= 0 {
		for h := 0; h < p.H; h++ {
			if x := opt[base+h]; x >= 0 && int(x) < F {
				seq = append(seq, h)
			}
		}
		return seq
	}
	for f := 0; f < F; f++ {
		for h := 0; h < p.H; h++ {
			if int(opt[base+h]) == f {
				seq = append(seq, h)
			}
		}
	}
	return seq
}

// readRuns splits the stream of opt into the executor's merged reads
// (see problem.mergeBytes), as it reads them: greedily, each run as long
// as the next blob is the next head at the same fidelity and part of the
// same layer and the run stays within runBlobs blobs and mergeBytes
// bytes. It appends to runs, per streamed blob, the index of its run's
// last blob where a run starts and -1 elsewhere, and to runIO the run's
// read time there: the latency once, and each blob's transfer.
func (p *problem) readRuns(opt []int16, orders [][]int, runs []int32, runIO []int64) ([]int32, []int64) {
	F := p.F
	n := 0
	for _, x := range opt {
		if x >= 0 && int(x) < F {
			n += 2
		}
	}
	maxRun := p.runBlobs(n)
	first, prevH, prevX := -1, -1, -1
	var bytes int64
	var seqArr [64]int
	for k := 0; k < p.L; k++ {
		seq := p.layerOrder(opt, orders, k, seqArr[:0])
		for part := range 2 {
			first = -1 // a run does not cross parts or layers
			for _, h := range seq {
				s := k*p.H + h
				x := int(opt[s])
				if x < 0 || x >= F {
					continue
				}
				tau, b := p.ioA[s*F+x], p.byA[s*F+x]
				if part == 1 {
					tau, b = p.ioF[s*F+x], p.byF[s*F+x]
				}
				j := len(runs)
				if first >= 0 && h == prevH+1 && x == prevX && j-first < maxRun && bytes+b <= p.mergeBytes {
					runs = append(runs, -1)
					runIO = append(runIO, 0)
					runs[first] = int32(j)
					runIO[first] += max(tau-p.lat, 0)
					bytes += b
				} else {
					runs = append(runs, int32(j))
					runIO = append(runIO, tau)
					first, bytes = j, b
				}
				prevH, prevX = h, x
			}
		}
	}
	return runs, runIO
}
