package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"sync"
	"time"
)

// ErrInjected is the error a [Fault] returns when it has no Err of its own.
var ErrInjected = errors.New("injected fault")

// Op names the call a [Fault] applies to.
type Op int

const (
	// OpRead is Store.ReadAt and AlignedReader.ReadAligned.
	OpRead Op = iota
	// OpSize is Store.Size.
	OpSize
	// OpKeys is Store.Keys; the fault's Key pattern is matched against the
	// prefix asked for.
	OpKeys
	// OpPut is Writer.Put.
	OpPut
	// OpCommit is Writer.Commit; the fault's Key is ignored.
	OpCommit
)

var opNames = [...]string{"read", "size", "keys", "put", "commit"}

// String returns "read", "size", "keys", "put" or "commit".
func (o Op) String() string {
	if o >= 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// FaultKind is what a [Fault] does.
type FaultKind int

const (
	// FaultError makes the call fail with the fault's Err (ErrInjected by
	// default) without reaching the wrapped store or writer.
	FaultError FaultKind = iota
	// FaultShortRead makes a read deliver only the first half of the bytes
	// asked for (a write store only the first half of the blob) and return
	// the fault's Err, which is nil by default: a short read without an
	// error breaks the Store contract on purpose, to show that callers
	// notice through their sizes and checksums.
	FaultShortRead
	// FaultCorrupt flips the bits of one byte: of the bytes read (of the
	// blob written, for Put), at index At, or the last byte when At is
	// past the end. The call itself succeeds.
	FaultCorrupt
	// FaultDelay makes the call wait the fault's Delay, as a stalled
	// device would, and then proceed normally. The wait ends early with
	// the context's error when it is cancelled.
	FaultDelay
)

// Fault describes one injected failure.
type Fault struct {
	// Op is the kind of call the fault applies to.
	Op Op
	// Key selects the calls by key, as a path.Match pattern ("L03/*/ffn/*"),
	// so '*' does not cross '/'. Empty matches every key.
	Key string
	// Call fires the fault on the Call-th matching call only, counting from
	// 1; 0 fires it on every matching call.
	Call int
	// Kind is what happens.
	Kind FaultKind
	// Err is returned by FaultError (default ErrInjected) and
	// FaultShortRead (default nil).
	Err error
	// At is the index of the byte FaultCorrupt flips.
	At int
	// Delay is how long FaultDelay waits.
	Delay time.Duration
	// Rate, if positive, fires the fault on only this fraction of the
	// calls it selects, drawn from a generator seeded with Seed: the same
	// sequence of calls gets the same faults. It models a flaky device.
	Rate float64
	// Seed seeds the draws of Rate.
	Seed uint64
}

// faults matches calls against a list of Faults. It is safe for concurrent
// use; call numbers follow the order in which calls reach it.
type faults struct {
	mu     sync.Mutex
	list   []Fault
	counts []int        // matching calls seen, per fault
	rngs   []*rand.Rand // per fault with a Rate
	fired  int
}

func newFaults(list []Fault) *faults {
	f := &faults{list: append([]Fault{}, list...), counts: make([]int, len(list)), rngs: make([]*rand.Rand, len(list))}
	for i, ft := range list {
		if ft.Rate > 0 {
			f.rngs[i] = rand.New(rand.NewPCG(ft.Seed, uint64(i)))
		}
	}
	return f
}

// match returns the first fault that fires for this call, if any. Every
// fault whose Op and Key match counts the call, whether or not it fires.
func (f *faults) match(op Op, key string) (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hit Fault
	found := false
	for i, ft := range f.list {
		if ft.Op != op {
			continue
		}
		if ft.Key != "" && op != OpCommit {
			if ok, err := path.Match(ft.Key, key); err != nil || !ok {
				continue
			}
		}
		f.counts[i]++
		if !found && (ft.Call == 0 || ft.Call == f.counts[i]) && (f.rngs[i] == nil || f.rngs[i].Float64() < ft.Rate) {
			hit, found = ft, true
		}
	}
	if found {
		f.fired++
	}
	return hit, found
}

func (f *faults) firedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired
}

func (ft Fault) err(def error) error {
	if ft.Err != nil {
		return ft.Err
	}
	return def
}

func (ft Fault) describe(key string) string {
	return fmt.Sprintf("faulty: %s %q", ft.Op, key)
}

// FaultyStore is a Store wrapper that injects failures, for tests. Make one
// with [Faulty].
type FaultyStore struct {
	s      Store
	faults *faults
}

var _ AlignedReader = (*FaultyStore)(nil)

// Faulty wraps s so that the calls the faults select fail, return short,
// return corrupted bytes, or wait. Size and Keys take only FaultError. A
// Fault with an invalid Key pattern matches nothing.
func Faulty(s Store, faults ...Fault) *FaultyStore {
	return &FaultyStore{s: s, faults: newFaults(faults)}
}

// Fired reports how many calls a fault has fired on so far, so that a test
// can check that its fault was reached.
func (f *FaultyStore) Fired() int { return f.faults.firedCount() }

// Size implements [Store].
func (f *FaultyStore) Size(ctx context.Context, key string) (int64, error) {
	if ft, ok := f.faults.match(OpSize, key); ok && ft.Kind == FaultError {
		return 0, fmt.Errorf("%s: %w", ft.describe(key), ft.err(ErrInjected))
	}
	return f.s.Size(ctx, key)
}

// ReadAt implements [Store].
func (f *FaultyStore) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	return f.read(ctx, key, dst, off, f.s.ReadAt)
}

// ReadAligned implements [AlignedReader] by forwarding to the wrapped
// store's ReadAligned (its ReadAt if it has none). Faults on [OpRead]
// apply to it as to ReadAt.
func (f *FaultyStore) ReadAligned(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	return f.read(ctx, key, dst, off, func(ctx context.Context, key string, dst []byte, off int64) (int, error) {
		return ReadAligned(ctx, f.s, key, dst, off)
	})
}

// read applies the first read fault that fires to a read done by readAt.
func (f *FaultyStore) read(ctx context.Context, key string, dst []byte, off int64, readAt func(context.Context, string, []byte, int64) (int, error)) (int, error) {
	ft, ok := f.faults.match(OpRead, key)
	if !ok {
		return readAt(ctx, key, dst, off)
	}
	switch ft.Kind {
	case FaultShortRead:
		n, err := readAt(ctx, key, dst[:len(dst)/2], off)
		if err != nil {
			return n, err
		}
		if e := ft.err(nil); e != nil {
			return n, fmt.Errorf("%s: %w", ft.describe(key), e)
		}
		return n, nil
	case FaultCorrupt:
		n, err := readAt(ctx, key, dst, off)
		flipByte(dst[:n], ft.At)
		return n, err
	case FaultDelay:
		if err := sleepCtx(ctx, ft.Delay); err != nil {
			return 0, fmt.Errorf("%s: delayed: %w", ft.describe(key), err)
		}
		return readAt(ctx, key, dst, off)
	default:
		return 0, fmt.Errorf("%s: %w", ft.describe(key), ft.err(ErrInjected))
	}
}

func flipByte(b []byte, at int) {
	if len(b) == 0 {
		return
	}
	b[min(max(at, 0), len(b)-1)] ^= 0xFF
}

// Keys implements [Store].
func (f *FaultyStore) Keys(ctx context.Context, prefix string) ([]string, error) {
	if ft, ok := f.faults.match(OpKeys, prefix); ok && ft.Kind == FaultError {
		return nil, fmt.Errorf("%s: %w", ft.describe(prefix), ft.err(ErrInjected))
	}
	return f.s.Keys(ctx, prefix)
}

// Close implements [Store].
func (f *FaultyStore) Close() error { return f.s.Close() }

// FaultyWriter is a Writer wrapper that injects failures, for tests of
// interrupted writes. Make one with [FaultyWrites].
type FaultyWriter struct {
	w      Writer
	faults *faults
}

// FaultyWrites wraps w so that the Put and Commit calls the faults select
// fail (FaultError: the call never reaches w), write half the blob
// (FaultShortRead, a torn write), write it with one byte flipped
// (FaultCorrupt) or wait first (FaultDelay). Abort always reaches w.
func FaultyWrites(w Writer, faults ...Fault) *FaultyWriter {
	return &FaultyWriter{w: w, faults: newFaults(faults)}
}

// Fired reports how many calls a fault has fired on so far.
func (f *FaultyWriter) Fired() int { return f.faults.firedCount() }

// Put implements [Writer].
func (f *FaultyWriter) Put(ctx context.Context, key string, data []byte) error {
	ft, ok := f.faults.match(OpPut, key)
	if !ok {
		return f.w.Put(ctx, key, data)
	}
	switch ft.Kind {
	case FaultShortRead:
		if err := f.w.Put(ctx, key, data[:len(data)/2]); err != nil {
			return err
		}
		if e := ft.err(nil); e != nil {
			return fmt.Errorf("%s: %w", ft.describe(key), e)
		}
		return nil
	case FaultCorrupt:
		bad := append([]byte{}, data...)
		flipByte(bad, ft.At)
		return f.w.Put(ctx, key, bad)
	case FaultDelay:
		if err := sleepCtx(ctx, ft.Delay); err != nil {
			return fmt.Errorf("%s: delayed: %w", ft.describe(key), err)
		}
		return f.w.Put(ctx, key, data)
	default:
		return fmt.Errorf("%s: %w", ft.describe(key), ft.err(ErrInjected))
	}
}

// Commit implements [Writer]. An injected Commit failure leaves w
// uncommitted; the caller's Abort cleans it up.
func (f *FaultyWriter) Commit(ctx context.Context) error {
	if ft, ok := f.faults.match(OpCommit, ""); ok {
		if ft.Kind != FaultDelay {
			return fmt.Errorf("faulty: commit: %w", ft.err(ErrInjected))
		}
		if err := sleepCtx(ctx, ft.Delay); err != nil {
			return fmt.Errorf("faulty: commit: delayed: %w", err)
		}
	}
	return f.w.Commit(ctx)
}

// Abort implements [Writer].
func (f *FaultyWriter) Abort() error { return f.w.Abort() }
