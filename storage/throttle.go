package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wrxlabs/wrx/internal/units"
)

// ThrottleConfig describes an emulated storage device. The zero value is an
// infinitely fast device.
type ThrottleConfig struct {
	// Bandwidth is the sustained read rate in bytes per second; 0 means
	// unlimited.
	Bandwidth float64
	// Latency is the fixed cost of every read, before the first byte.
	Latency time.Duration
}

// ReadTime is how long the device takes to read n bytes: Latency +
// n/Bandwidth.
func (c ThrottleConfig) ReadTime(n int) time.Duration {
	d := c.Latency
	if c.Bandwidth > 0 {
		d += time.Duration(float64(n) / c.Bandwidth * float64(time.Second))
	}
	return d
}

// String formats c in the syntax ParseThrottle reads, e.g. "150MB/s,1ms".
// The bandwidth is printed in decimal units, exactly, so that the text
// parses back to the same number (units.FormatBandwidthExact: 80MiB/s
// prints as 83.88608MB/s).
func (c ThrottleConfig) String() string {
	var parts []string
	if c.Bandwidth > 0 {
		parts = append(parts, units.FormatBandwidthExact(c.Bandwidth))
	}
	if c.Latency > 0 {
		parts = append(parts, c.Latency.String())
	}
	if len(parts) == 0 {
		return "unlimited"
	}
	return strings.Join(parts, ",")
}

// ParseThrottle reads a device description such as "150MB/s,1ms": a
// bandwidth, a per-read latency, or both, separated by a comma, in either
// order. The bandwidth is read by units.ParseBandwidth: B/s, KB/s (or
// kB/s), MB/s, GB/s (powers of 1000) or KiB/s, MiB/s, GiB/s (powers of
// 1024); bits per second are not accepted, to avoid the Mb/MB mix-up. The
// latency is a non-negative Go duration, read by units.ParseDuration:
// "1ms", "250us", "250µs", "2.5ms".
func ParseThrottle(s string) (ThrottleConfig, error) {
	var c ThrottleConfig
	var haveBW, haveLat bool
	if strings.TrimSpace(s) == "" {
		return c, fmt.Errorf("throttle %q: empty (want e.g. 150MB/s,1ms)", s)
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if strings.HasSuffix(part, "/s") {
			if haveBW {
				return c, fmt.Errorf("throttle %q: two bandwidths", s)
			}
			bw, err := units.ParseBandwidth(part)
			if err != nil {
				return c, fmt.Errorf("throttle %q: %w", s, err)
			}
			c.Bandwidth, haveBW = bw, true
			continue
		}
		if haveLat {
			return c, fmt.Errorf("throttle %q: two latencies", s)
		}
		d, err := units.ParseDuration(part)
		if errors.Is(err, units.ErrSyntax) {
			return c, fmt.Errorf("throttle %q: %q is neither a bandwidth (like 150MB/s) nor a latency (like 1ms): %w", s, part, err)
		}
		if err != nil {
			return c, fmt.Errorf("throttle %q: latency: %w", s, err)
		}
		c.Latency, haveLat = d, true
	}
	return c, nil
}

// Throttle wraps s so that reads take as long as they would on the device
// cfg describes. The device serves one read at a time, like the single
// flash channel of a phone or a Raspberry Pi's SD card: concurrent ReadAt
// calls queue, so bandwidth is shared, not multiplied. A read of n bytes
// holds the device for at least cfg.ReadTime(n) from when it starts,
// including the time the underlying store took (so a slow underlying store
// is not charged twice). Waiting, in the queue or on the device, ends early
// with an error when ctx is cancelled.
//
// Size, Keys and Close are not throttled: stores answer them from an index
// in memory. The returned store is an [AlignedReader] that forwards to s,
// so a throttled direct-IO store still reads straight into aligned buffers.
// Its device can be changed while it is in use (SetConfig, SetBandwidth),
// to emulate a device that slows down, such as one another reader shares.
func Throttle(s Store, cfg ThrottleConfig) *ThrottledStore {
	t := &ThrottledStore{s: s, device: make(chan struct{}, 1), now: time.Now, sleep: sleepCtx}
	t.cfg.Store(&cfg)
	return t
}

// ThrottledStore is a store behind an emulated device (see Throttle). It is
// safe for concurrent use.
type ThrottledStore struct {
	s      Store                          // the wrapped store
	cfg    atomic.Pointer[ThrottleConfig] // the device now
	device chan struct{}                  // holds a token while a read is in progress
	// Clock hooks, replaced by tests so that they never depend on time.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// Config returns the device the store emulates now.
func (t *ThrottledStore) Config() ThrottleConfig { return *t.cfg.Load() }

// SetConfig changes the emulated device. A read already on the device is
// charged at the configuration in force when its bytes have arrived; the
// reads after it at cfg.
func (t *ThrottledStore) SetConfig(cfg ThrottleConfig) { t.cfg.Store(&cfg) }

// SetBandwidth changes the emulated device's bandwidth (bytes per second;
// 0 means unlimited) and keeps its per-read latency, as SetConfig does. It
// returns an error for a negative or non-finite bandwidth.
func (t *ThrottledStore) SetBandwidth(bw float64) error {
	if bw < 0 || math.IsNaN(bw) || math.IsInf(bw, 0) {
		return fmt.Errorf("throttle: bandwidth %v bytes/s is not a nonnegative number", bw)
	}
	for {
		old := t.cfg.Load()
		cfg := *old
		cfg.Bandwidth = bw
		if t.cfg.CompareAndSwap(old, &cfg) {
			return nil
		}
	}
}

var _ AlignedReader = (*ThrottledStore)(nil)

// Size implements [Store]; it is not throttled.
func (t *ThrottledStore) Size(ctx context.Context, key string) (int64, error) {
	return t.s.Size(ctx, key)
}

// Keys implements [Store]; it is not throttled.
func (t *ThrottledStore) Keys(ctx context.Context, prefix string) ([]string, error) {
	return t.s.Keys(ctx, prefix)
}

// Close implements [Store].
func (t *ThrottledStore) Close() error { return t.s.Close() }

// timerSlack is how late a Go timer may fire: on the development VM a
// 100µs timer takes about 1ms. sleepCtx sleeps with a timer only for what
// is left beyond it and spins for the rest, so that an emulated per-read
// latency below a millisecond is what it says.
const timerSlack = 1500 * time.Microsecond

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	deadline := time.Now().Add(d)
	if d > timerSlack {
		t := time.NewTimer(d - timerSlack)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return err
		}
		runtime.Gosched()
	}
	return ctx.Err()
}

// ReadAt implements [Store]: it waits for the device, reads, and holds the
// device for the emulated read time.
func (t *ThrottledStore) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	return t.read(ctx, key, func() (int, error) { return t.s.ReadAt(ctx, key, dst, off) })
}

// ReadAligned implements [AlignedReader] by forwarding to the wrapped
// store's ReadAligned (its ReadAt if it has none), throttled like ReadAt.
func (t *ThrottledStore) ReadAligned(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	return t.read(ctx, key, func() (int, error) { return ReadAligned(ctx, t.s, key, dst, off) })
}

// read holds the device for one read, done by do, for as long as the
// emulated device takes.
func (t *ThrottledStore) read(ctx context.Context, key string, do func() (int, error)) (int, error) {
	select {
	case t.device <- struct{}{}:
	case <-ctx.Done():
		return 0, fmt.Errorf("throttle: read %q: waiting for the device: %w", key, ctx.Err())
	}
	defer func() { <-t.device }()
	start := t.now()
	n, err := do()
	if err != nil && n == 0 {
		return n, err
	}
	if serr := t.sleep(ctx, t.Config().ReadTime(n)-t.now().Sub(start)); serr != nil {
		return 0, fmt.Errorf("throttle: read %q: %w", key, serr)
	}
	return n, err
}

// Adjacent implements [BatchReader] by asking the wrapped store.
func (t *ThrottledStore) Adjacent(prev, next string) bool { return Adjacent(t.s, prev, next) }

// ReadBatch implements [BatchReader]. Each run of blobs the wrapped store
// reports adjacent is one device read, forwarded as one ReadBatch and
// charged like one read of all its bytes: the per-read latency once, plus
// the bytes at the bandwidth. Runs queue for the device like other reads.
func (t *ThrottledStore) ReadBatch(ctx context.Context, reads []BlobRead) error {
	return runs(t.s, reads, func(run []BlobRead) error {
		n := 0
		for _, r := range run {
			n += len(r.Dst)
		}
		_, err := t.read(ctx, run[0].Key, func() (int, error) {
			if err := ReadBatch(ctx, t.s, run); err != nil {
				return 0, err
			}
			return n, nil
		})
		return err
	})
}

var _ BatchReader = (*ThrottledStore)(nil)
