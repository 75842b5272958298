package native

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Helper goroutines wake in microseconds only if they are already running:
// waking a parked goroutine on an idle CPU costs tens of microseconds on
// some systems, as long as a whole small product. So, like OpenBLAS's
// threads, helpers poll for new work for helperSpin after each job, park
// after that, and exit after helperIdle without work, so an unused Backend
// holds no goroutines.
const (
	helperSpin = 200 * time.Microsecond
	helperIdle = 2 * time.Second
)

// pool is a Backend's set of helper goroutines.
type pool struct {
	mu    sync.Mutex
	slots []chan *job // one per helper; nil while that helper is not running
}

// job is one parallelFor call: chunks of [0, n) claimed one at a time by the
// caller and whichever helpers get to it. A helper that arrives after the
// last chunk was claimed does nothing, so the caller never waits for a
// helper that has not started.
type job struct {
	fn     func(lo, hi int)
	n, per int
	chunks int32
	next   atomic.Int32
	left   atomic.Int32
	done   chan struct{}
}

func (j *job) work() {
	for {
		c := j.next.Add(1) - 1
		if c >= j.chunks {
			return
		}
		lo := int(c) * j.per
		j.fn(lo, min(lo+j.per, j.n))
		if j.left.Add(-1) == 0 {
			close(j.done)
		}
	}
}

// parallelFor calls fn over [0, n) split into contiguous chunks whose
// boundaries are multiples of grain (except the last), run by up to threads
// goroutines including the caller. It runs fn inline when one chunk covers
// everything, so small calls pay nothing.
func (p *pool) parallelFor(n, grain, threads int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	units := (n + grain - 1) / grain
	// A few chunks per thread let the threads that run balance the load
	// when one is slowed by other work on the machine.
	chunks := min(units, 3*threads)
	if threads <= 1 || chunks <= 1 {
		fn(0, n)
		return
	}
	per := (units + chunks - 1) / chunks * grain
	j := &job{fn: fn, n: n, per: per, done: make(chan struct{})}
	j.chunks = int32((n + per - 1) / per)
	j.left.Store(j.chunks)
	p.dispatch(j, threads-1)
	j.work()
	for start := time.Now(); time.Since(start) < helperSpin; {
		select {
		case <-j.done:
			return
		default:
			runtime.Gosched()
		}
	}
	<-j.done
}

// dispatch offers j to the first helpers of p, starting any that are not
// running. A helper still busy with another caller's job is skipped.
func (p *pool) dispatch(j *job, helpers int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.slots) < helpers {
		p.slots = append(p.slots, nil)
	}
	for i := range helpers {
		if p.slots[i] == nil {
			ch := make(chan *job, 1)
			p.slots[i] = ch
			go p.helper(i, ch)
		}
		select {
		case p.slots[i] <- j:
		default:
		}
	}
}

func (p *pool) helper(i int, ch chan *job) {
	idle := time.NewTimer(helperIdle)
	defer idle.Stop()
	for {
		var j *job
	spin:
		for start := time.Now(); time.Since(start) < helperSpin; {
			select {
			case j = <-ch:
				break spin
			default:
				runtime.Gosched()
			}
		}
		if j == nil {
			idle.Reset(helperIdle)
			select {
			case j = <-ch:
			case <-idle.C:
				p.mu.Lock()
				select {
				case j = <-ch: // sent while the timer fired
					p.mu.Unlock()
				default:
					p.slots[i] = nil
					p.mu.Unlock()
					return
				}
			}
		}
		j.work()
	}
}
