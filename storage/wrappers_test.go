package storage_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx/storage"
	"github.com/wrxlabs/wrx/storage/storagetest"
)

// wrapDriver serves mem stores through a wrapper, so that the conformance
// suite checks that wrappers pass every call through faithfully.
type wrapDriver struct {
	wrap func(storage.Store) storage.Store
}

func (d wrapDriver) Open(ctx context.Context, loc string, o storage.OpenOptions) (storage.Store, error) {
	s, err := storage.OpenWith(ctx, "mem:"+loc, o)
	if err != nil {
		return nil, err
	}
	return d.wrap(s), nil
}

func (d wrapDriver) Create(ctx context.Context, loc string, o storage.CreateOptions) (storage.Writer, error) {
	w, err := storage.Create(ctx, "mem:"+loc, o)
	if err != nil {
		return nil, err
	}
	return storage.FaultyWrites(w), nil
}

// sidecarDriver is a wrapDriver that keeps sidecars as the mem: store
// beneath does. The wrappers need no sidecar support of their own, since
// sidecars go by URI; this lets the suite's sidecar tests run for the
// wrapper drivers too.
type sidecarDriver struct{ wrapDriver }

func (sidecarDriver) WriteSidecar(ctx context.Context, loc, name string, data []byte) error {
	return storage.WriteSidecar(ctx, "mem:"+loc, name, data)
}

func (sidecarDriver) ReadSidecar(ctx context.Context, loc, name string) ([]byte, error) {
	return storage.ReadSidecar(ctx, "mem:"+loc, name)
}

func (sidecarDriver) SidecarNames(ctx context.Context, loc string) ([]string, error) {
	return storage.SidecarNames(ctx, "mem:"+loc)
}

func init() {
	storage.Register("test-throttle", sidecarDriver{wrapDriver{func(s storage.Store) storage.Store {
		return storage.Throttle(s, storage.ThrottleConfig{Bandwidth: 100e9})
	}}})
	storage.Register("test-faulty", sidecarDriver{wrapDriver{func(s storage.Store) storage.Store { return storage.Faulty(s) }}})
	storage.Register("test-counting", sidecarDriver{wrapDriver{func(s storage.Store) storage.Store { return storage.Counting(s) }}})
	// A driver without sidecars, for TestSidecarsUnsupported.
	storage.Register("test-nosidecars", wrapDriver{func(s storage.Store) storage.Store { return s }})
}

func TestWrappersConform(t *testing.T) {
	for _, scheme := range []string{"test-throttle", "test-faulty", "test-counting"} {
		t.Run(scheme, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) string {
				return scheme + ":" + strings.TrimPrefix(memURI(t), "mem:")
			})
		})
	}
}

// testStore commits blobs to a fresh mem store and opens it.
func testStore(t *testing.T, blobs map[string]string) storage.Store {
	t.Helper()
	ctx := context.Background()
	uri := memURI(t)
	w, err := storage.Create(ctx, uri, storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range blobs {
		if err := w.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := storage.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseThrottle(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want storage.ThrottleConfig
	}{
		{"150MB/s,1ms", storage.ThrottleConfig{Bandwidth: 150e6, Latency: time.Millisecond}},
		{"1ms, 150MB/s", storage.ThrottleConfig{Bandwidth: 150e6, Latency: time.Millisecond}},
		{"80MiB/s", storage.ThrottleConfig{Bandwidth: 80 * 1048576}},
		{"500KB/s", storage.ThrottleConfig{Bandwidth: 500e3}},
		{"500kB/s", storage.ThrottleConfig{Bandwidth: 500e3}},
		{"4KiB/s", storage.ThrottleConfig{Bandwidth: 4096}},
		{"1.5GB/s,250us", storage.ThrottleConfig{Bandwidth: 1.5e9, Latency: 250 * time.Microsecond}},
		{"serial, 1ms, 150MB/s", storage.ThrottleConfig{Bandwidth: 150e6, Latency: time.Millisecond, Serial: true}},
		{"serial", storage.ThrottleConfig{Serial: true}},
		{"2GiB/s,250µs", storage.ThrottleConfig{Bandwidth: 2 * 1073741824, Latency: 250 * time.Microsecond}},
		{"100B/s", storage.ThrottleConfig{Bandwidth: 100}},
		{"2.5ms", storage.ThrottleConfig{Latency: 2500 * time.Microsecond}},
	} {
		got, err := storage.ParseThrottle(tc.in)
		if err != nil {
			t.Errorf("ParseThrottle(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseThrottle(%q) mismatch (-want +got):\n%s", tc.in, diff)
		}
		// String must read back as the same device.
		again, err := storage.ParseThrottle(got.String())
		if err != nil || !cmp.Equal(got, again) {
			t.Errorf("ParseThrottle(%q.String() = %q) = %+v, %v", tc.in, got.String(), again, err)
		}
	}
	for _, bad := range []string{"", "fast", "150MB", "150Mb/s", "150mb/s", "-5MB/s", "0MB/s", "-1ms", "1ms,2ms", "1MB/s,2MB/s", "MB/s", "NaNMB/s", "InfMB/s", "serial,serial", "Serial"} {
		if c, err := storage.ParseThrottle(bad); err == nil {
			t.Errorf("ParseThrottle(%q) = %+v, want an error", bad, c)
		}
	}
}

// String prints decimal units only, exactly: a binary rate prints as the
// decimal number of the same bytes per second.
func TestThrottleString(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"150MB/s,1ms", "150MB/s,1ms"},
		{"1ms, 150MB/s", "150MB/s,1ms"},
		{"1.5GB/s,250us", "1.5GB/s,250µs"},
		{"80MiB/s", "83.88608MB/s"},
		{"4KiB/s", "4.096KB/s"},
		{"100B/s", "100B/s"},
		{"2.5ms", "2.5ms"},
	} {
		c, err := storage.ParseThrottle(tc.in)
		if err != nil {
			t.Fatalf("ParseThrottle(%q): %v", tc.in, err)
		}
		if got := c.String(); got != tc.want {
			t.Errorf("ParseThrottle(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := (storage.ThrottleConfig{}).String(); got != "unlimited" {
		t.Errorf("zero ThrottleConfig.String() = %q, want unlimited", got)
	}
}

func TestThrottleReadTime(t *testing.T) {
	c := storage.ThrottleConfig{Bandwidth: 1e6, Latency: time.Millisecond}
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{0, time.Millisecond}, {1000, 2 * time.Millisecond}, {1e6, time.Second + time.Millisecond}} {
		if got := c.ReadTime(tc.n); got != tc.want {
			t.Errorf("ReadTime(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
	if got := (storage.ThrottleConfig{}).ReadTime(1 << 30); got != 0 {
		t.Errorf("unlimited ReadTime = %v, want 0", got)
	}
}

func TestThrottleCancel(t *testing.T) {
	s := storage.Throttle(testStore(t, map[string]string{"k": "value"}), storage.ThrottleConfig{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	// If cancellation did not interrupt the emulated device, this would
	// take an hour and the test binary would time out.
	if _, err := s.ReadAt(ctx, "k", make([]byte, 5), 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ReadAt on a 1h-latency device with a 10ms deadline: err = %v, want DeadlineExceeded", err)
	}
}

func TestFaultyReads(t *testing.T) {
	ctx := context.Background()
	blobs := map[string]string{"L00/H00/attn/q4": "abcdefgh", "L00/H01/attn/q4": "ijklmnop", "emb/rows": "0123456789"}
	wantErr := errors.New("disk on fire")

	type call struct {
		key     string
		want    string // bytes delivered
		wantErr error  // nil: no error
	}
	for _, tc := range []struct {
		name   string
		faults []storage.Fault
		calls  []call
		fired  int
	}{
		{"no faults", nil, []call{{"emb/rows", "0123456789", nil}}, 0},
		{
			"error on the second read of any attn blob",
			[]storage.Fault{{Op: storage.OpRead, Key: "L00/*/attn/*", Call: 2}},
			[]call{
				{"L00/H00/attn/q4", "abcdefgh", nil},
				{"emb/rows", "0123456789", nil},
				{"L00/H01/attn/q4", "", storage.ErrInjected},
				{"L00/H00/attn/q4", "abcdefgh", nil},
			},
			1,
		},
		{
			"own error on every emb read",
			[]storage.Fault{{Op: storage.OpRead, Key: "emb/*", Err: wantErr}},
			[]call{{"emb/rows", "", wantErr}, {"L00/H00/attn/q4", "abcdefgh", nil}, {"emb/rows", "", wantErr}},
			2,
		},
		{
			"silent short read",
			[]storage.Fault{{Op: storage.OpRead, Key: "emb/rows", Kind: storage.FaultShortRead}},
			[]call{{"emb/rows", "01234", nil}},
			1,
		},
		{
			"short read with an error",
			[]storage.Fault{{Op: storage.OpRead, Kind: storage.FaultShortRead, Err: wantErr}},
			[]call{{"L00/H00/attn/q4", "abcd", wantErr}},
			1,
		},
		{
			"corrupt byte 2",
			[]storage.Fault{{Op: storage.OpRead, Kind: storage.FaultCorrupt, At: 2, Call: 1}},
			[]call{{"L00/H00/attn/q4", "ab\x9cdefgh", nil}, {"L00/H00/attn/q4", "abcdefgh", nil}},
			1,
		},
		{
			"corrupt past the end flips the last byte",
			[]storage.Fault{{Op: storage.OpRead, Kind: storage.FaultCorrupt, At: 100}},
			[]call{{"emb/rows", "012345678\xc6", nil}},
			1,
		},
		{
			"size faults do not touch reads",
			[]storage.Fault{{Op: storage.OpSize}},
			[]call{{"emb/rows", "0123456789", nil}},
			0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := storage.Faulty(testStore(t, blobs), tc.faults...)
			for i, c := range tc.calls {
				dst := make([]byte, len(blobs[c.key]))
				n, err := f.ReadAt(ctx, c.key, dst, 0)
				if !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
					t.Errorf("call %d (%s): err = %v, want %v", i+1, c.key, err, c.wantErr)
				}
				if got := string(dst[:n]); got != c.want {
					t.Errorf("call %d (%s): got %q, want %q", i+1, c.key, got, c.want)
				}
			}
			if f.Fired() != tc.fired {
				t.Errorf("Fired() = %d, want %d", f.Fired(), tc.fired)
			}
		})
	}

	f := storage.Faulty(testStore(t, blobs), storage.Fault{Op: storage.OpSize, Key: "emb/rows"}, storage.Fault{Op: storage.OpKeys, Key: "L00/"})
	if _, err := f.Size(ctx, "emb/rows"); !errors.Is(err, storage.ErrInjected) {
		t.Errorf("Size fault: err = %v", err)
	}
	if n, err := f.Size(ctx, "L00/H00/attn/q4"); err != nil || n != 8 {
		t.Errorf("Size of an unselected key = %d, %v", n, err)
	}
	if _, err := f.Keys(ctx, "L00/"); !errors.Is(err, storage.ErrInjected) {
		t.Errorf("Keys fault: err = %v", err)
	}
	if keys, err := f.Keys(ctx, "emb/"); err != nil || !cmp.Equal(keys, []string{"emb/rows"}) {
		t.Errorf("Keys of an unselected prefix = %v, %v", keys, err)
	}
}

// TestInterruptedWrite: a write that fails part way, then is aborted as
// any caller would, leaves nothing that opens.
func TestInterruptedWrite(t *testing.T) {
	ctx := context.Background()
	uri := memURI(t)
	w, err := storage.Create(ctx, uri, storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fw := storage.FaultyWrites(w, storage.Fault{Op: storage.OpPut, Call: 3})
	var putErr error
	for _, k := range []string{"a", "b", "c", "d"} {
		if putErr = fw.Put(ctx, k, []byte(k)); putErr != nil {
			break
		}
	}
	if !errors.Is(putErr, storage.ErrInjected) || !strings.Contains(putErr.Error(), `"c"`) {
		t.Fatalf("third Put: err = %v, want ErrInjected naming \"c\"", putErr)
	}
	fw.Abort()
	if _, err := storage.Open(ctx, uri); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open after an interrupted write: err = %v, want fs.ErrNotExist", err)
	}
}

func TestFaultyWrites(t *testing.T) {
	ctx := context.Background()
	uri := memURI(t)
	w, err := storage.Create(ctx, uri, storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fw := storage.FaultyWrites(w,
		storage.Fault{Op: storage.OpPut, Key: "torn", Kind: storage.FaultShortRead},
		storage.Fault{Op: storage.OpPut, Key: "flipped", Kind: storage.FaultCorrupt, At: 1},
		storage.Fault{Op: storage.OpCommit, Call: 1},
	)
	for _, k := range []string{"torn", "flipped", "fine"} {
		if err := fw.Put(ctx, k, []byte("ABCDEF")); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	if err := fw.Commit(ctx); !errors.Is(err, storage.ErrInjected) {
		t.Fatalf("first Commit: err = %v, want ErrInjected", err)
	}
	if _, err := storage.Open(ctx, uri); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open after a failed Commit: err = %v, want fs.ErrNotExist", err)
	}
	if err := fw.Commit(ctx); err != nil {
		t.Fatalf("second Commit: %v", err)
	}
	s, err := storage.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range []string{"torn", "flipped", "fine"} {
		b, err := storage.ReadAll(ctx, s, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		got[k] = string(b)
	}
	want := map[string]string{"torn": "ABC", "flipped": "A\xbdCDEF", "fine": "ABCDEF"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored blobs (-want +got):\n%s", diff)
	}
	if fw.Fired() != 3 {
		t.Errorf("Fired() = %d, want 3", fw.Fired())
	}
}

func TestCounting(t *testing.T) {
	ctx := context.Background()
	c := storage.Counting(testStore(t, map[string]string{"emb/rows": "0123456789", "L00/H00/attn/q4": "abcdefgh"}))
	row := make([]byte, 2)
	for _, id := range []int{3, 1, 3} {
		if _, err := c.ReadAt(ctx, "emb/rows", row, int64(2*id)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := storage.ReadAll(ctx, c, "L00/H00/attn/q4", nil); err != nil {
		t.Fatal(err)
	}
	c.ReadAt(ctx, "missing", row, 0)

	want := []storage.Read{
		{Key: "emb/rows", Off: 6, Len: 2, N: 2},
		{Key: "emb/rows", Off: 2, Len: 2, N: 2},
		{Key: "emb/rows", Off: 6, Len: 2, N: 2},
		{Key: "L00/H00/attn/q4", Off: 0, Len: 8, N: 8},
		{Key: "missing", Off: 0, Len: 2, N: 0},
	}
	if diff := cmp.Diff(want, c.Reads()); diff != "" {
		t.Errorf("Reads (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		prefix string
		reads  int
		bytes  int64
	}{{"emb/", 3, 6}, {"L00/", 1, 8}, {"", 5, 14}, {"L01/", 0, 0}} {
		if r, b := c.Count(tc.prefix); r != tc.reads || b != tc.bytes {
			t.Errorf("Count(%q) = %d, %d; want %d, %d", tc.prefix, r, b, tc.reads, tc.bytes)
		}
	}
	c.Reset()
	if r, _ := c.Count(""); r != 0 {
		t.Errorf("after Reset, Count = %d", r)
	}
}

// callLog is a Store that records which read method reached it.
type callLog struct {
	storage.Store
	calls []string
}

func (c *callLog) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	c.calls = append(c.calls, "ReadAt")
	return c.Store.ReadAt(ctx, key, dst, off)
}

// alignedLog is a callLog with the AlignedReader capability.
type alignedLog struct{ *callLog }

func (c alignedLog) ReadAligned(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	c.calls = append(c.calls, "ReadAligned")
	return c.Store.ReadAt(ctx, key, dst, off)
}

// TestWrappersForwardReadAligned: every wrapper passes ReadAligned on to a
// store that has it, so wrapping keeps direct IO, and falls back to ReadAt
// for one that does not. So do the wrappers stacked.
func TestWrappersForwardReadAligned(t *testing.T) {
	ctx := context.Background()
	wrappers := []struct {
		name string
		wrap func(storage.Store) storage.Store
	}{
		{"Throttle", func(s storage.Store) storage.Store { return storage.Throttle(s, storage.ThrottleConfig{}) }},
		{"Faulty", func(s storage.Store) storage.Store { return storage.Faulty(s) }},
		{"Counting", func(s storage.Store) storage.Store { return storage.Counting(s) }},
		{"all three", func(s storage.Store) storage.Store {
			return storage.Throttle(storage.Faulty(storage.Counting(s)), storage.ThrottleConfig{})
		}},
	}
	for _, w := range wrappers {
		for _, capable := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/aligned reader %v", w.name, capable), func(t *testing.T) {
				log := &callLog{Store: testStore(t, map[string]string{"k": "value"})}
				var inner storage.Store = log
				want := []string{"ReadAt", "ReadAt"}
				if capable {
					inner = alignedLog{log}
					want = []string{"ReadAligned", "ReadAt"}
				}
				s := w.wrap(inner)
				dst := storage.AlignedBuffer(5)
				if n, err := storage.ReadAligned(ctx, s, "k", dst, 0); err != nil || string(dst[:n]) != "value" {
					t.Errorf("ReadAligned = %q, %v", dst[:n], err)
				}
				if n, err := s.ReadAt(ctx, "k", dst, 0); err != nil || string(dst[:n]) != "value" {
					t.Errorf("ReadAt = %q, %v", dst[:n], err)
				}
				if diff := cmp.Diff(want, log.calls); diff != "" {
					t.Errorf("calls reaching the wrapped store (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestFaultyRateAndDelay checks the flaky-device faults: Rate fires a
// fault on about that fraction of the calls, the same ones for the same
// seed, and FaultDelay waits and then reads correctly, or gives up with
// the context.
func TestFaultyRateAndDelay(t *testing.T) {
	ctx := context.Background()
	blobs := map[string]string{"a": "abcdefgh"}
	fired := func(seed uint64) []bool {
		f := storage.Faulty(testStore(t, blobs), storage.Fault{Op: storage.OpRead, Rate: 0.25, Seed: seed})
		var out []bool
		for range 400 {
			_, err := f.ReadAt(ctx, "a", make([]byte, 8), 0)
			out = append(out, err != nil)
		}
		if n := f.Fired(); n < 60 || n > 140 {
			t.Errorf("seed %d: Rate 0.25 fired on %d of 400 calls", seed, n)
		}
		return out
	}
	if a, b, c := fired(1), fired(1), fired(2); !cmp.Equal(a, b) || cmp.Equal(a, c) {
		t.Errorf("the same seed gave different faults, or another seed the same")
	}

	f := storage.Faulty(testStore(t, blobs), storage.Fault{Op: storage.OpRead, Kind: storage.FaultDelay, Delay: time.Millisecond})
	dst := make([]byte, 8)
	if n, err := f.ReadAt(ctx, "a", dst, 0); err != nil || n != 8 || string(dst) != "abcdefgh" {
		t.Errorf("delayed read: %d, %v, %q", n, err, dst)
	}
	f = storage.Faulty(testStore(t, blobs), storage.Fault{Op: storage.OpRead, Kind: storage.FaultDelay, Delay: time.Hour})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.ReadAt(cctx, "a", dst, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("delayed read with a cancelled context: %v", err)
	}
}
