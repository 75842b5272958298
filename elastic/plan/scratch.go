package plan

import "unsafe"

// A request's planning explores hundreds of candidate assignments. Their
// slices live in a scratch kept by the planner between requests, not on
// the collected heap: the garbage of tens of kilobytes per request would
// make the Go heap grow by its whole headroom between collections, and
// that growth is resident memory the request's budget does not pay for.

// arena hands out slices of kept chunks; reset makes every chunk free
// again. Slices it returns are zeroed and must not be used after reset.
type arena[T any] struct {
	chunks [][]T
	cur    int // chunk being filled
	used   int // elements of chunks[cur] handed out
}

// take returns a zeroed slice of n elements whose capacity is n, so an
// append to it cannot write into the next slice.
func (a *arena[T]) take(n int) []T {
	for ; a.cur < len(a.chunks); a.cur, a.used = a.cur+1, 0 {
		if c := a.chunks[a.cur]; a.used+n <= len(c) {
			s := c[a.used : a.used+n : a.used+n]
			a.used += n
			clear(s)
			return s
		}
	}
	var zero T
	size := max(n, 8192/max(int(unsafe.Sizeof(zero)), 1))
	if k := len(a.chunks); k > 0 {
		size = max(size, 2*len(a.chunks[k-1]))
	}
	a.chunks = append(a.chunks, make([]T, size))
	a.used = n
	return a.chunks[a.cur][:n:n]
}

func (a *arena[T]) reset() { a.cur, a.used = 0, 0 }

// arenaMark is a point of an arena to rewind to.
type arenaMark struct{ cur, used int }

func (a *arena[T]) mark() arenaMark { return arenaMark{a.cur, a.used} }

func (a *arena[T]) rewind(m arenaMark) { a.cur, a.used = m.cur, m.used }

// bytes is the memory the arena keeps.
func (a *arena[T]) bytes() int {
	var zero T
	n := 0
	for _, c := range a.chunks {
		n += len(c)
	}
	return n * int(unsafe.Sizeof(zero))
}

// capBytes is the memory behind s.
func capBytes[T any](s []T) int {
	var zero T
	return cap(s) * int(unsafe.Sizeof(zero))
}

// scratch is the working memory of one planning call (Plan, the minimum
// target, Preload). A nil *scratch allocates from the heap, for the
// paths that are not run per request (Simulate, the loss bound).
type scratch struct {
	i8       arena[int8]
	i16      arena[int16]
	i64      arena[int64]
	problems arena[problem]
	evals    arena[eval]
	lts      arena[LayerTiming]
	is       arena[int]

	// Slices that grow by append, each used by one search or one greedy
	// pass at a time.
	queue   pq
	applied []int32
	tail    []upgrade
	cands   []greedyCand
	fr      frontier
	sr      searcher
}

// maxScratchBytes is the most a kept scratch may hold; a larger one (a
// preload search over a large model) is left to the collector.
const maxScratchBytes = 1 << 20

func (w *scratch) reset() {
	w.i8.reset()
	w.i16.reset()
	w.i64.reset()
	w.problems.reset()
	w.evals.reset()
	w.lts.reset()
	w.is.reset()
}

// bytes is the memory w keeps.
func (w *scratch) bytes() int {
	return w.i8.bytes() + w.i16.bytes() + w.i64.bytes() + w.problems.bytes() + w.evals.bytes() +
		w.lts.bytes() + w.is.bytes() + capBytes(w.fr.moves) + capBytes(w.fr.lat) + capBytes(w.queue) +
		capBytes(w.applied) + capBytes(w.tail) + capBytes(w.cands)
}

// scratchMark is a point of a scratch's arenas to rewind to.
type scratchMark struct{ i8, i16, i64, problems, evals, lts, is arenaMark }

// mark returns the point rewind returns to. A search over many candidates
// rewinds after each, keeping only what it took before the mark, so its
// memory is that of one candidate, not of all of them.
func (w *scratch) mark() scratchMark {
	if w == nil {
		return scratchMark{}
	}
	return scratchMark{w.i8.mark(), w.i16.mark(), w.i64.mark(), w.problems.mark(), w.evals.mark(), w.lts.mark(), w.is.mark()}
}

// rewind frees everything taken since m: those slices must not be used
// again.
func (w *scratch) rewind(m scratchMark) {
	if w == nil {
		return
	}
	w.i8.rewind(m.i8)
	w.i16.rewind(m.i16)
	w.i64.rewind(m.i64)
	w.problems.rewind(m.problems)
	w.evals.rewind(m.evals)
	w.lts.rewind(m.lts)
	w.is.rewind(m.is)
}

func (w *scratch) int8s(n int) []int8 {
	if w == nil {
		return make([]int8, n)
	}
	return w.i8.take(n)
}

func (w *scratch) int16s(n int) []int16 {
	if w == nil {
		return make([]int16, n)
	}
	return w.i16.take(n)
}

func (w *scratch) int64s(n int) []int64 {
	if w == nil {
		return make([]int64, n)
	}
	return w.i64.take(n)
}

func (w *scratch) ints(n int) []int {
	if w == nil {
		return make([]int, n)
	}
	return w.is.take(n)
}

func (w *scratch) layerTimings(n int) []LayerTiming {
	if w == nil {
		return make([]LayerTiming, n)
	}
	return w.lts.take(n)
}

func (w *scratch) clone16(s []int16) []int16 {
	c := w.int16s(len(s))
	copy(c, s)
	return c
}

func (w *scratch) clone64(s []int64) []int64 {
	c := w.int64s(len(s))
	copy(c, s)
	return c
}

// problem returns a problem to fill in, tied to w.
func (w *scratch) problem() *problem {
	if w == nil {
		return new(problem)
	}
	p := &w.problems.take(1)[0]
	p.ws = w
	return p
}

func (w *scratch) eval() *eval {
	if w == nil {
		return new(eval)
	}
	return &w.evals.take(1)[0]
}

// The appendable slices are handed out empty and given back grown, so the
// next planning call appends into the same memory. A nil scratch hands out
// nil slices.

func (w *scratch) greedyCands() []greedyCand {
	if w == nil {
		return nil
	}
	return w.cands[:0]
}

func (w *scratch) appliedSteps() []int32 {
	if w == nil {
		return nil
	}
	return w.applied[:0]
}

func (w *scratch) keepGreedy(cands []greedyCand, applied []int32) {
	if w != nil {
		w.cands, w.applied = cands, applied
	}
}

func (w *scratch) undoable() []upgrade {
	if w == nil {
		return nil
	}
	return w.tail[:0]
}

func (w *scratch) keepUndoable(tail []upgrade) {
	if w != nil {
		w.tail = tail
	}
}

// search returns the searcher and the empty frontier of one search; the
// frontier is valid until the next search with w.
func (w *scratch) search() (*searcher, *frontier) {
	if w == nil {
		return new(searcher), new(frontier)
	}
	w.fr = frontier{moves: w.fr.moves[:0], lat: w.fr.lat[:0]}
	return &w.sr, &w.fr
}

func (w *scratch) searchQueue() pq {
	if w == nil {
		return make(pq, 0, 64)
	}
	return w.queue[:0]
}

func (w *scratch) keepSearchQueue(q pq) {
	if w != nil {
		w.queue = q
	}
}
