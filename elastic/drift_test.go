package elastic_test

import (
	"context"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/elastic"
	"github.com/wrxlabs/wrx/elastic/internal/plantest"
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/leaktest"
	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// Drift test parameters. The emulated device reads 1 MB/s with 200 µs a
// read, and the request's 6 word rows and tens of kilobytes of shards take
// tens of milliseconds, while the synthetic model computes in a fraction
// of a millisecond (its profile, tripled, says about ten: compute has
// headroom even under the race detector), so the latency is the device's
// and CPU noise hardly matters.
const (
	driftBandwidth = 1e6
	driftLatency   = 200 * time.Microsecond
	driftTarget    = 100 * time.Millisecond
	// After driftWarmup requests, which fill the slack windows (they are
	// the calibration, with the test's own request), driftBefore requests
	// run on the profiled device, then its bandwidth halves (another
	// reader takes half of it) for driftAfter requests.
	driftWarmup, driftBefore, driftAfter = 10, 30, 50
	// driftRecovery is the number of requests after the change allowed to
	// be late: the slack reaches the new level after the second slow
	// request (slackRecovery), a few more may be late while its window
	// fills with the new level's spread (2 or 3 in all, measured), and
	// the rest is margin.
	driftRecovery = 10
	// driftMaxLate is how many of the requests after the recovery window
	// may still be late, beyond as many as were late before the change:
	// the IO slack is a 99th percentile, and on a loaded shared machine
	// the emulated device itself has hiccups (its reads are timers and
	// spinning), as the requests before the change show.
	driftMaxLate = 4
	// driftMinIOSlack is the least IO slack expected at half bandwidth:
	// a word row read takes 1.57 times as long, a shard blob of a few
	// kilobytes about 1.9 times.
	driftMinIOSlack = 1.4
)

// exactGeometry is the store's geometry with its blobs' and rows' sizes in
// bytes: GeometryFromManifest counts whole sectors, as a direct-IO read
// does, but a throttle over a mem: store charges the bytes themselves.
func exactGeometry(t *testing.T, s *shardstore.Store) *plan.Geometry {
	t.Helper()
	g, err := profile.GeometryFromManifest(s.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	g.EmbeddingRowBytes = int64(s.Manifest().WordRowBytes)
	for l := range g.Sizes {
		for h := range g.Sizes[l] {
			for i, b := range g.Bits {
				g.Sizes[l][h][i] = plan.BlobSizes{
					Attn: s.Size(pipeline.Key(l, h, plan.Attention, b)),
					FFN:  s.Size(pipeline.Key(l, h, plan.FFN, b)),
				}
			}
		}
	}
	return g
}

// TestRunnerFollowsDrift serves requests one after another from a store
// behind an emulated device whose profile is exact; halfway, the device's
// bandwidth halves, standing in for a competing reader. The runner must
// meet its deadline again within driftRecovery requests, with at most
// driftMaxLate late ones after that, and it must see the slowdown as IO:
// the IO slack rises to the device's new speed, the compute slack stays.
func TestRunnerFollowsDrift(t *testing.T) {
	defer leaktest.Check(t)()
	ctx := context.Background()
	_, _, uri := storetest.SynthFixture(t, "fixtures/tiny-bert", 4, 8, 32)
	st, err := storage.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	dev := storage.Throttle(st, storage.ThrottleConfig{Bandwidth: driftBandwidth, Latency: driftLatency})
	s, err := shardstore.Open(ctx, dev)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	defer s.Close()
	prof, err := plantest.Profiles(exactGeometry(t, s))
	if err != nil {
		t.Fatal(err)
	}
	prof.Device.ReadBandwidth, prof.Device.ReadLatency = driftBandwidth, driftLatency
	c := &prof.Device.Compute
	for _, ts := range append(c.Layer, c.Embed, c.Head) {
		for i := range ts {
			ts[i] *= 3
		}
	}
	be, err := pipeline.OpenBackend("native", 0)
	if err != nil {
		t.Fatal(err)
	}
	// BestEffort: a request no plan can answer in time still runs, so
	// that lateness is measured, not refused. No calibration: its requests
	// of up to 48 tokens read many small rows, whose timing on a loaded
	// machine is noisier than the test's; the warm-up requests stand in.
	r, err := elastic.NewRunner(ctx, s, be, elastic.RunnerOptions{Target: driftTarget, Profiles: prof, BestEffort: true, Calibration: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ids := []int{101, 2009, 1005, 1055, 1037, 102}
	var before plan.Scale
	var bytesBefore, bytesAfter int64
	lateBefore, lateAfter := 0, 0
	var lateSince []int // late requests after the change, counted from it
	firstOnTime := -1   // the first request after the change on time
	for range driftWarmup {
		if _, _, err := r.Run(ctx, time.Time{}, ids, nil); err != nil {
			t.Fatalf("warm-up: %v", err)
		}
	}
	for i := range driftBefore + driftAfter {
		if i == driftBefore {
			before = r.Slacks()
			if err := dev.SetBandwidth(driftBandwidth / 2); err != nil {
				t.Fatal(err)
			}
		}
		_, info, err := r.Run(ctx, time.Time{}, ids, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		late := info.Total > driftTarget
		sl := r.Slacks()
		t.Logf("request %2d: %5.1f ms (late %-5v) IO %5.1f ms of %5.1f predicted, %5d bytes read; slacks IO %.2f, compute %.2f",
			i, msOf(info.Total), late, msOf(info.IOTime), msOf(info.Plan.PredictedIO), info.IOBytes, sl.IO, sl.Compute)
		after := i - driftBefore
		switch {
		case after < 0:
			bytesBefore += info.IOBytes
			if late {
				lateBefore++
			}
			continue
		case late:
			lateSince = append(lateSince, after)
		case firstOnTime < 0:
			firstOnTime = after
		}
		if after >= driftRecovery {
			bytesAfter += info.IOBytes
			if late {
				lateAfter++
			}
		}
	}
	after := r.Slacks()
	t.Logf("before the change: %d of %d late, IO slack %.2f, compute %.2f, %d bytes a request", lateBefore, driftBefore, before.IO, before.Compute, bytesBefore/driftBefore)
	t.Logf("after it: the first request on time is request %d after the change; late ones (counted from the change): %v, %d of the %d after the first %d; IO slack %.2f, compute %.2f, %d bytes a request",
		firstOnTime, lateSince, lateAfter, driftAfter-driftRecovery, driftRecovery, after.IO, after.Compute, bytesAfter/(driftAfter-driftRecovery))
	if firstOnTime < 0 || firstOnTime >= driftRecovery {
		t.Errorf("no request in the first %d after the bandwidth halved was on time (first: %d)", driftRecovery, firstOnTime)
	}
	if lateAfter > driftMaxLate+lateBefore {
		t.Errorf("%d of the %d requests after the first %d at half bandwidth were late, want at most %d (%d were late before the change)",
			lateAfter, driftAfter-driftRecovery, driftRecovery, driftMaxLate+lateBefore, lateBefore)
	}
	if after.IO < driftMinIOSlack || after.IO < before.IO {
		t.Errorf("IO slack %.2f before the bandwidth halved, %.2f after: want it to rise to at least %.2f", before.IO, after.IO, driftMinIOSlack)
	}
	// The cores did not change: the compute slack may move with the
	// machine's load, but not follow the IO slack.
	if after.Compute > max(1.25*before.Compute, 1.1) || after.Compute >= after.IO {
		t.Errorf("compute slack %.2f before the bandwidth halved, %.2f after (IO slack %.2f): it followed the disk", before.Compute, after.Compute, after.IO)
	}
	if bytesAfter/(driftAfter-driftRecovery) >= bytesBefore/driftBefore {
		t.Errorf("requests read %d bytes before the bandwidth halved and %d after: the plans did not shrink", bytesBefore/driftBefore, bytesAfter/(driftAfter-driftRecovery))
	}
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
