package elastic

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/backend/native"
	"github.com/wrxlabs/wrx/elastic/internal/plantest"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/shardstore"
)

// handProfiles builds planner inputs for a store by hand (see plantest).
func handProfiles(t *testing.T, s *shardstore.Store) *plan.Profiles {
	t.Helper()
	g, err := profile.GeometryFromManifest(s.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	p, err := plantest.Profiles(g)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var testIDs = []int{101, 2009, 1005, 1055, 1037, 11951, 1998, 2411, 12473, 4990, 1012, 102}

func TestRunnerWRXStaysWithinBudget(t *testing.T) {
	_, s, _ := storetest.SynthFixture(t, "fixtures/tiny-bert", 2, 4, 8, 32)
	be, _ := backend.Get("native")
	ctx := context.Background()
	prof := handProfiles(t, s)
	for _, budget := range []int64{0, 64 << 10, 1 << 20} {
		r, err := NewRunner(ctx, s, be, RunnerOptions{Target: 40 * time.Millisecond, Budget: budget, Profiles: prof})
		if err != nil {
			t.Fatal(err)
		}
		_, info, err := r.Run(ctx, testIDs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if info.PreloadBytes > budget {
			t.Errorf("budget %d: preload holds %d bytes", budget, info.PreloadBytes)
		}
		if info.Plan == nil || info.Plan.PredictedLatency > 40*time.Millisecond {
			t.Errorf("budget %d: plan %+v predicted over the target", budget, info.Plan)
		}
		if bound := info.ResidentBytes + budget + info.Plan.InFlightBytes; info.PeakWeightBytes > bound {
			t.Errorf("budget %d: peak weight bytes %d above budget + resident + in-flight bound %d", budget, info.PeakWeightBytes, bound)
		}
	}
	_, err := NewRunner(ctx, s, be, RunnerOptions{Target: time.Microsecond, Budget: 0, Profiles: prof})
	var inf *plan.InfeasibleError
	if !errors.As(err, &inf) {
		t.Fatalf("a 1µs target: err = %v, want an InfeasibleError", err)
	}
	if _, err := NewRunner(ctx, s, be, RunnerOptions{Target: time.Second}); err == nil {
		t.Error("wrx mode without profiles was accepted")
	}
}

func TestRunnerSlackIsHighPercentileOfRatios(t *testing.T) {
	r := &Runner{slack: 1}
	for i := range 100 {
		// Measured/predicted ratios 0.5, 0.51, …, 1.49.
		r.observe(time.Duration(500+10*i)*time.Microsecond, time.Millisecond)
	}
	// The 99th percentile of 100 ratios is the 99th smallest: 1.48.
	if got := r.Slack(); math.Abs(got-1.48) > 1e-9 {
		t.Errorf("slack = %v, want 1.48", got)
	}
	// The window keeps the last 100: after 100 ratios of 0.9 the slack is 1.
	for range 100 {
		r.observe(900*time.Microsecond, time.Millisecond)
	}
	if got := r.Slack(); got != 1 {
		t.Errorf("after the window moved past the slow requests: slack = %v, want 1", got)
	}
	fast := &Runner{slack: 1}
	for range 10 {
		fast.observe(time.Millisecond/2, time.Millisecond)
	}
	if got := fast.Slack(); got != 1 {
		t.Errorf("a device faster than its profile: slack = %v, want 1 (never plan past the target)", got)
	}
}

func TestRunnerRefusesAProfileOfOtherThreads(t *testing.T) {
	_, s, _ := storetest.SynthFixture(t, "fixtures/tiny-bert", 2, 32)
	prof := handProfiles(t, s)
	prof.Device.Threads = 3
	be := native.New(native.Options{Threads: 1})
	_, err := NewRunner(context.Background(), s, be, RunnerOptions{Target: time.Second, Profiles: prof})
	if err == nil || !strings.Contains(err.Error(), "3 compute threads") || !strings.Contains(err.Error(), "has 1") {
		t.Errorf("a profile of 3 threads with a 1-thread backend: err = %v", err)
	}
	prof.Device.Threads = 1
	if _, err := NewRunner(context.Background(), s, be, RunnerOptions{Target: time.Second, Profiles: prof}); err != nil {
		t.Errorf("matching threads: %v", err)
	}
}
