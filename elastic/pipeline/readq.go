package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// readJob is one storage read of the IO side: a run of planned blobs, one
// unless ExecOptions.MaxReadBytes merges adjacent ones, each into its own
// slot. A request keeps ReadQueue of them in a ring, reused by the next
// requests (runState.jobs).
type readJob struct {
	keys   []shardstore.Key // a sub-slice of the request's stream
	slots  []*slot
	bufs   [][]byte
	reads  []storage.BlobRead // a merged read's storage reads, kept
	shards []shardstore.Shard
	start  time.Time
	done   chan error // the read's outcome; buffered, so a reader never blocks
}

// busyClock sums the time at least one read of a request is in progress:
// with reads overlapping, RunStats.IOTime is the time the device was busy
// with the request, not the sum of the reads' times.
//
// A read begins at its job's start, which can lie before the call to
// begin (a merged read waits for all its buffers first), and so before
// the end of an interval already counted: that time is not counted twice.
type busyClock struct {
	mu    sync.Mutex
	n     int
	since time.Time
	last  time.Time // the end of the last counted interval
	total time.Duration
}

func (b *busyClock) begin(t time.Time) {
	b.mu.Lock()
	if b.n == 0 {
		b.since = t
		if t.Before(b.last) {
			b.since = b.last
		}
	}
	b.n++
	b.mu.Unlock()
}

func (b *busyClock) end(t time.Time) {
	b.mu.Lock()
	b.n--
	if b.n == 0 {
		b.total += t.Sub(b.since)
		b.last = t
	}
	b.mu.Unlock()
}

// jobRing returns the request's ring of q read jobs, each able to hold a
// run of up to runLen blobs.
func (rs *runState) jobRing(q, runLen int) []readJob {
	if len(rs.jobs) < q {
		rs.jobs = append(rs.jobs, make([]readJob, q-len(rs.jobs))...)
	}
	ring := rs.jobs[:q]
	for i := range ring {
		j := &ring[i]
		if j.done == nil {
			j.done = make(chan error, 1)
		}
		if cap(j.slots) < runLen {
			j.slots = make([]*slot, 0, runLen)
			j.bufs = make([][]byte, 0, runLen)
			j.reads = make([]storage.BlobRead, runLen)
			j.shards = make([]shardstore.Shard, runLen)
		}
		j.slots, j.keys = j.slots[:0], nil
	}
	return ring
}

// read does job's storage read: one blob, or a merged run with one
// shardstore.Store.ReadShardBlobs, into the slots' buffers, then decodes
// each blob into its slot's shard space, as a single read does, so that
// a merged read allocates nothing either.
func (e *Executor) read(ctx context.Context, job *readJob) error {
	if len(job.keys) == 1 {
		sl, k := job.slots[0], job.keys[0]
		blob, err := e.store.ReadShardBlob(ctx, k, sl.buf)
		if err != nil {
			return err
		}
		return e.decode(job, 0, blob)
	}
	job.bufs = job.bufs[:0]
	for _, sl := range job.slots {
		job.bufs = append(job.bufs, sl.buf)
	}
	reads := job.reads[:len(job.keys)]
	if err := e.store.ReadShardBlobs(ctx, job.keys, job.bufs, reads); err != nil {
		return err
	}
	for i := range job.keys {
		if err := e.decode(job, i, reads[i].Dst); err != nil {
			return err
		}
	}
	return nil
}

// decode decodes the i-th blob of job into its slot's shard space. Reads
// overlap; decoding, which is CPU work, takes one core at a time, so that
// reads in flight do not take the core compute runs on (the device
// profile times it so: DeviceProfile.Decode).
func (e *Executor) decode(job *readJob, i int, blob []byte) error {
	e.decodeMu.Lock()
	defer e.decodeMu.Unlock()
	var err error
	job.shards[i], err = e.store.DecodeShardIn(job.keys[i], blob, &job.slots[i].sp)
	return err
}

// streamIO is the IO side of a request: it reads stream into slots taken
// from free and sends each blob to arrivals in stream order, stopping at
// the first error, which it sends as the arrival of its read's first blob.
//
// Up to q reads are in flight at once, each a goroutine of its own doing
// its (direct, for a flat-file store) read into its own slots, so that a
// device that serves concurrent reads overlaps their latencies; a read
// that lands before the ones ahead of it waits for them. q = 1 reads on
// this goroutine, one read at a time. A run of blobs adjacent in storage
// is one read when ExecOptions.MaxReadBytes allows it; a run holds at
// most slots/q blobs, so that q runs can be in flight together. Every
// read, and so every buffer, is bounded by the slots compute releases.
//
// It counts the reads it issued in rs.reads and the time the device was
// busy in rs.busy. The reader goroutines are counted in rs.wg: Run waits
// for them before it reads rs.busy or gives the slots back.
func (e *Executor) streamIO(ctx context.Context, rs *runState, stream []shardstore.Key, slots, q, bufSize int, free <-chan *slot, arrivals chan<- arrival) {
	runLen := 1
	if e.opts.MaxReadBytes > 0 {
		runLen = max(slots/q, 1)
	}
	ring := rs.jobRing(q, runLen)
	busy := &rs.busy

	var work chan *readJob
	if q > 1 {
		work = make(chan *readJob, q)
		defer close(work) // the readers finish the read they are in and return
		for range q {
			rs.wg.Add(1)
			go func() {
				defer rs.wg.Done()
				for job := range work {
					err := e.read(ctx, job)
					busy.end(time.Now())
					job.done <- err
				}
			}()
		}
	}
	send := func(a arrival) bool {
		select {
		case arrivals <- a:
			return true
		case <-ctx.Done():
			return false
		}
	}
	head, queued := 0, 0 // ring[head] is the oldest read in flight
	for next := 0; next < len(stream) || queued > 0; {
		var freeC <-chan *slot
		if next < len(stream) && queued < q {
			freeC = free
		}
		var doneC <-chan error
		if queued > 0 {
			doneC = ring[head].done
		}
		select {
		case sl := <-freeC:
			job := &ring[(head+queued)%q]
			if len(job.slots) == 0 {
				end := next + 1
				if e.opts.MaxReadBytes > 0 {
					end = e.mergedRun(stream, next, runLen, e.opts.MaxReadBytes)
				}
				job.keys = stream[next:end]
				job.start = time.Now()
			}
			if err := e.fillSlot(sl, bufSize, &rs.allocated); err != nil {
				send(arrival{key: job.keys[0], err: err})
				return
			}
			job.slots = append(job.slots, sl)
			if len(job.slots) < len(job.keys) {
				continue
			}
			next += len(job.keys)
			queued++
			rs.reads++
			busy.begin(job.start)
			if work != nil {
				work <- job // never blocks: at most q jobs are queued
				continue
			}
			err := e.read(ctx, job)
			busy.end(time.Now())
			job.done <- err
		case err := <-doneC:
			job := &ring[head]
			if err != nil {
				send(arrival{key: job.keys[0], err: err})
				return
			}
			for n, k := range job.keys {
				if !send(arrival{key: k, shard: job.shards[n], slot: job.slots[n]}) {
					return
				}
			}
			job.slots = job.slots[:0]
			head, queued = (head+1)%q, queued-1
		case <-ctx.Done():
			return
		}
	}
}
