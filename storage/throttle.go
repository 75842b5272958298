package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
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
	// Concurrent reads wait out their latencies in parallel, as an SSD's
	// do, unless Serial is set.
	Latency time.Duration
	// Serial makes the device serve one read at a time, like the single
	// flash channel of a phone or a Raspberry Pi's SD card: concurrent
	// reads queue, and each pays Latency after the one before it ends.
	Serial bool
}

// ReadTime is how long the device takes to read n bytes when it serves
// nothing else: Latency + n/Bandwidth.
func (c ThrottleConfig) ReadTime(n int) time.Duration {
	return c.Latency + c.transferTime(n)
}

// transferTime is how long n bytes take at Bandwidth.
func (c ThrottleConfig) transferTime(n int) time.Duration {
	if c.Bandwidth <= 0 {
		return 0
	}
	return time.Duration(float64(n) / c.Bandwidth * float64(time.Second))
}

// String formats c in the syntax ParseThrottle reads, e.g. "150MB/s,1ms"
// or "150MB/s,1ms,serial".
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
	if c.Serial {
		parts = append(parts, "serial")
	}
	if len(parts) == 0 {
		return "unlimited"
	}
	return strings.Join(parts, ",")
}

// ParseThrottle reads a device description such as "150MB/s,1ms": a
// bandwidth, a per-read latency, or both, and optionally the word
// "serial" (ThrottleConfig.Serial), separated by commas, in any order. The bandwidth is read by units.ParseBandwidth: B/s, KB/s (or
// kB/s), MB/s, GB/s (powers of 1000) or KiB/s, MiB/s, GiB/s (powers of
// 1024); bits per second are not accepted, to avoid the Mb/MB mix-up. The
// latency is a non-negative Go duration, read by units.ParseDuration:
// "1ms", "250us", "250µs", "2.5ms".
func ParseThrottle(s string) (ThrottleConfig, error) {
	var c ThrottleConfig
	var haveBW, haveLat, haveSerial bool
	if strings.TrimSpace(s) == "" {
		return c, fmt.Errorf("throttle %q: empty (want e.g. 150MB/s,1ms)", s)
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "serial" {
			if haveSerial {
				return c, fmt.Errorf("throttle %q: serial twice", s)
			}
			c.Serial, haveSerial = true, true
			continue
		}
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
// cfg describes. The device models an SSD: each read waits out the
// per-read latency, concurrent reads in parallel, and then transfers its
// bytes through one channel of cfg.Bandwidth that concurrent reads take in
// turn. A read alone on the device takes cfg.ReadTime(n); q reads of n
// bytes issued together end after Latency + q·n/Bandwidth, so that a
// reader that keeps q reads in flight takes max(n/Bandwidth, ReadTime(n)/q)
// a read: it hides the latency and approaches the bandwidth, and never
// passes it. With cfg.Serial the device serves one read at a time instead, like
// the single flash channel of a phone or a Raspberry Pi's SD card:
// concurrent ReadAt calls queue. A read of n bytes lasts, from when it
// starts, at least its emulated time, including the time the underlying
// store took (so a slow underlying store is not charged twice). Waiting,
// in the queue or on the device, ends early with an error when ctx is
// cancelled; a cancelled read has still taken its share of the channel.
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
	device chan struct{}                  // holds a token while a Serial read is in progress

	mu        sync.Mutex
	channelAt time.Time // when the transfer channel is next free
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

// read does one read, done by do, and makes it last as long as the
// emulated device takes.
func (t *ThrottledStore) read(ctx context.Context, key string, do func() (int, error)) (int, error) {
	if t.Config().Serial {
		select {
		case t.device <- struct{}{}:
		case <-ctx.Done():
			return 0, fmt.Errorf("throttle: read %q: waiting for the device: %w", key, ctx.Err())
		}
		defer func() { <-t.device }()
	}
	start := t.now()
	n, err := do()
	if err != nil && n == 0 {
		return n, err
	}
	// The bytes arrive once the latency has passed and the channel is
	// free; the channel is then busy for their transfer time. Reserving
	// it when the underlying read returns (its n known) orders concurrent
	// reads by that, which changes who waits, not the total.
	cfg := t.Config()
	t.mu.Lock()
	at := start.Add(cfg.Latency)
	if t.channelAt.After(at) {
		at = t.channelAt
	}
	at = at.Add(cfg.transferTime(n))
	t.channelAt = at
	t.mu.Unlock()
	if serr := t.sleep(ctx, at.Sub(t.now())); serr != nil {
		return 0, fmt.Errorf("throttle: read %q: %w", key, serr)
	}
	return n, err
}

// Adjacent implements [BatchReader] by asking the wrapped store.
func (t *ThrottledStore) Adjacent(prev, next string) bool { return Adjacent(t.s, prev, next) }

// ReadBatch implements [BatchReader]. Each run of blobs the wrapped store
// reports adjacent is one device read, forwarded as one ReadBatch and
// charged like one read of all its bytes: the per-read latency once, plus
// the bytes at the bandwidth. Runs share the device like other reads.
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
