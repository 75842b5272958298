package elastic

import (
	"context"
	"fmt"

	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// WithThrottle returns a copy of d for the same store read through a
// storage.Throttle of cfg. The throttle adds its latency and its transfer
// time to every real read, so the latencies add and the inverse
// bandwidths add.
func (d *DeviceProfile) WithThrottle(cfg storage.ThrottleConfig) *DeviceProfile {
	out := *d
	out.ReadLatency += cfg.Latency
	if cfg.Bandwidth > 0 {
		out.ReadBandwidth = 1 / (1/d.ReadBandwidth + 1/cfg.Bandwidth)
	}
	return &out
}

// LoadProfiles reads the planner's inputs from a store: its geometry, its
// importance profile, and the device profile measured for backendName,
// adjusted for throttle (zero: none).
func LoadProfiles(ctx context.Context, store *shardstore.Store, backendName string, throttle storage.ThrottleConfig) (*Profiles, error) {
	g, err := GeometryFromManifest(store.Manifest())
	if err != nil {
		return nil, err
	}
	imp, err := LoadImportance(ctx, store)
	if err != nil {
		return nil, err
	}
	dev, err := LoadDevice(ctx, store, backendName)
	if err != nil {
		return nil, err
	}
	p := &Profiles{Geometry: g, Importance: imp, Device: dev.WithThrottle(throttle)}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("elastic: profiles in the store: %w", err)
	}
	return p, nil
}
