package profile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// Profiles live beside the store, in its sidecar (storage.WriteSidecar),
// one small JSON file per kind, each written atomically: profiling never
// rewrites shard data, works on a store that is open elsewhere, and two
// profilers of different kinds running at once both land. Every file
// records the ContentID of the store it was measured on and is refused by
// any other store, such as one converted again at the same place.
//
// Stores made before sidecars kept their profiles as blobs inside the
// store (keys under shardstore.ProfilePrefix); those are still read when
// the sidecar has none.

// ErrNoProfile means a store has no profile of the kind asked for.
var ErrNoProfile = errors.New("no profile")

// Sidecar names of the profiles.
const (
	ImportanceSidecar = "importance.json"
	WordsSidecar      = "words.json"
)

// DeviceSidecar is the sidecar name of the device profile of a backend.
func DeviceSidecar(backendName string) string { return "device." + backendName + ".json" }

// legacyKeys are the in-store keys older stores kept profiles under.
var legacyKeys = map[string]string{
	ImportanceSidecar: shardstore.ProfilePrefix + "importance",
	WordsSidecar:      shardstore.ProfilePrefix + "words",
}

func init() {
	for _, b := range []string{"native", "gorgonia"} {
		legacyKeys[DeviceSidecar(b)] = shardstore.ProfilePrefix + "device/" + b
	}
}

// sidecarFile is what a profile sidecar holds.
type sidecarFile struct {
	Store   string          `json:"store"` // the store's ContentID
	Profile json.RawMessage `json:"profile"`
}

// save writes p beside the store at uri as name, for the store whose
// content is id; what names it in errors.
func save(ctx context.Context, uri, id, name, what string, p any) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	b, err := json.MarshalIndent(sidecarFile{Store: id, Profile: raw}, "", " ")
	if err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	if err := storage.WriteSidecar(ctx, uri, name, b); err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	return nil
}

// load decodes the profile name of the store s at uri into p. It returns
// an error wrapping ErrNoProfile when there is none.
func load(ctx context.Context, uri string, s *shardstore.Store, name, what string, p any) error {
	b, err := storage.ReadSidecar(ctx, uri, name)
	if errors.Is(err, storage.ErrNotFound) {
		return loadLegacy(ctx, s, name, what, p)
	}
	if err != nil {
		return fmt.Errorf("load %s: %w", what, err)
	}
	// The profile is decoded straight into p, not copied out as raw JSON
	// first: the copy of a word profile is half a megabyte of garbage
	// while a classifier opens, and the heap's growth then is resident
	// memory its budget does not pay for.
	f := struct {
		Store   string `json:"store"`
		Profile any    `json:"profile"`
	}{Profile: p}
	err = json.Unmarshal(b, &f)
	if err != nil {
		// A profile of another store may be of another format: name
		// the mismatch rather than the decoding error.
		var id struct {
			Store string `json:"store"`
		}
		if json.Unmarshal(b, &id) == nil && id.Store != s.ContentID() {
			f.Store, err = id.Store, nil
		}
	}
	if err == nil && f.Store != s.ContentID() {
		return fmt.Errorf("load %s %s of %s: it was measured on store content %s, the store now holds %s (converted again?): %w",
			what, name, uri, f.Store, s.ContentID(), ErrNoProfile)
	}
	if err != nil {
		return fmt.Errorf("load %s %s of %s: %w", what, name, uri, err)
	}
	return nil
}

// loadLegacy reads a profile an older store keeps inside itself.
func loadLegacy(ctx context.Context, s *shardstore.Store, name, what string, p any) error {
	key, ok := legacyKeys[name]
	if !ok || !s.HasExtra(key) {
		return fmt.Errorf("store has no %s: %w", what, ErrNoProfile)
	}
	b, err := s.ReadExtra(ctx, key)
	if err != nil {
		return fmt.Errorf("load %s: %w", what, err)
	}
	if err := json.Unmarshal(b, p); err != nil {
		return fmt.Errorf("load %s %s: %w", what, key, err)
	}
	return nil
}

// SaveImportance validates p and writes it beside the store s opened from
// uri, replacing any previous importance profile.
func SaveImportance(ctx context.Context, uri string, s *shardstore.Store, p *plan.ImportanceProfile) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("save importance profile: %w", err)
	}
	if c := s.Config(); p.Layers != c.Layers || p.Heads != c.Heads {
		return fmt.Errorf("save importance profile: it is for %d layers × %d heads, the store's model has %d × %d", p.Layers, p.Heads, c.Layers, c.Heads)
	}
	return save(ctx, uri, s.ContentID(), ImportanceSidecar, "importance profile", p)
}

// LoadImportance reads the importance profile of the store s opened from
// uri. A store without one gives an error wrapping ErrNoProfile.
func LoadImportance(ctx context.Context, uri string, s *shardstore.Store) (*plan.ImportanceProfile, error) {
	var p plan.ImportanceProfile
	if err := load(ctx, uri, s, ImportanceSidecar, "importance profile", &p); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("load importance profile: %w", err)
	}
	if c := s.Config(); p.Layers != c.Layers || p.Heads != c.Heads {
		return nil, fmt.Errorf("load importance profile: it is for %d layers × %d heads, the store's model has %d × %d", p.Layers, p.Heads, c.Layers, c.Heads)
	}
	return &p, nil
}

// SaveDevice validates p and writes it beside the store s opened from uri,
// replacing any previous device profile for p.Backend. The profile must
// record the host it was measured on (ProfileDevice does).
func SaveDevice(ctx context.Context, uri string, s *shardstore.Store, p *plan.DeviceProfile) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("save device profile: %w", err)
	}
	if p.Backend == "" || p.Host == nil {
		return errors.New("save device profile: the profile names no backend or host")
	}
	return save(ctx, uri, s.ContentID(), DeviceSidecar(p.Backend), "device profile", p)
}

// LoadDevice reads the device profile of the store s opened from uri for
// be, and checks that it was measured on this host with be as it is
// configured now (CurrentHost). A profile from another host is refused
// with an error naming what differs; a store without one gives an error
// wrapping ErrNoProfile. Either way the cure is to measure the device
// again here (ProfileDevice).
func LoadDevice(ctx context.Context, uri string, s *shardstore.Store, be backend.Backend) (*plan.DeviceProfile, error) {
	if be == nil {
		return nil, errors.New("load device profile: no backend to load it for")
	}
	var p plan.DeviceProfile
	what := fmt.Sprintf("device profile for backend %q", be.Name())
	if err := load(ctx, uri, s, DeviceSidecar(be.Name()), what, &p); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	if p.Backend != be.Name() {
		return nil, fmt.Errorf("load %s: it was measured on backend %q", what, p.Backend)
	}
	here := CurrentHost(be)
	if p.Host == nil {
		// A profile made before hosts were recorded: only its thread
		// count can be checked.
		if p.Threads > 0 && here.Threads > 0 && p.Threads != here.Threads {
			return nil, fmt.Errorf("load %s: it was measured with %d compute threads, the backend has %d: its timings would not hold; measure the device again with %d threads: %w",
				what, p.Threads, here.Threads, here.Threads, ErrOtherHost)
		}
		return &p, nil
	}
	if d := p.Host.Diff(here); len(d) > 0 {
		return nil, fmt.Errorf("load %s: it was measured on another host (%s): its timings would not hold here; measure the device again on this host: %w",
			what, strings.Join(d, ", "), ErrOtherHost)
	}
	return &p, nil
}

// ErrOtherHost means a device profile was measured on another host, or
// with the backend configured otherwise.
var ErrOtherHost = errors.New("device profile of another host")

// SaveWords validates p and writes it beside the store s opened from uri,
// replacing any previous word profile.
func SaveWords(ctx context.Context, uri string, s *shardstore.Store, p *plan.WordProfile) error {
	if err := p.Validate(s.Config().VocabSize); err != nil {
		return fmt.Errorf("save word profile: %w", err)
	}
	return save(ctx, uri, s.ContentID(), WordsSidecar, "word profile", p)
}

// LoadWords reads the word profile of the store s opened from uri; nil and
// no error when there is none.
func LoadWords(ctx context.Context, uri string, s *shardstore.Store) (*plan.WordProfile, error) {
	var p plan.WordProfile
	if err := load(ctx, uri, s, WordsSidecar, "word profile", &p); errors.Is(err, ErrNoProfile) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if err := p.Validate(s.Config().VocabSize); err != nil {
		return nil, fmt.Errorf("load word profile: %w", err)
	}
	return &p, nil
}

// LoadProfiles reads the planner's inputs for the store s opened from uri:
// its geometry, its importance profile, the device profile measured here
// for be, adjusted for throttle (zero: none), and its word profile if any.
// With a throttle, the read side is then measured again through it and
// the slower of the two is kept: the planner must not promise IO the
// emulated device cannot deliver, and timers under load fire late.
func LoadProfiles(ctx context.Context, uri string, s *shardstore.Store, be backend.Backend, throttle storage.ThrottleConfig) (*plan.Profiles, error) {
	g, err := GeometryFromManifest(s.Manifest())
	if err != nil {
		return nil, err
	}
	g.Contiguous = contiguous(s)
	if err := measureHeld(ctx, s, g); err != nil {
		return nil, err
	}
	imp, err := LoadImportance(ctx, uri, s)
	if err != nil {
		return nil, err
	}
	dev, err := LoadDevice(ctx, uri, s, be)
	if err != nil {
		return nil, err
	}
	if throttle != (storage.ThrottleConfig{}) {
		// The emulated device is what requests will read from: measure
		// it, through the throttle, and take the slower of it and the
		// profile adjusted for it. Unthrottled, the saved profile is the
		// measurement: measuring again at every open would let one noisy
		// startup plan differently from the next.
		dev = Throttled(dev, throttle)
		bw, lat, err := MeasureReads(ctx, s, s.Storage(), DeviceOptions{ReadQueue: dev.ReadQueue})
		if err != nil {
			return nil, err
		}
		dev.ReadBandwidth = min(dev.ReadBandwidth, bw)
		dev.ReadLatency = max(dev.ReadLatency, lat)
		depths, err := MeasureDepths(ctx, s, s.Storage(), DeviceOptions{ReadQueue: dev.ReadQueue})
		if err != nil {
			return nil, err
		}
		if len(dev.Depths) == 0 {
			dev.Depths = depths // a profile saved without depths: the ones measured through the throttle
		}
		for i := range dev.Depths {
			for _, m := range depths {
				if r := &dev.Depths[i]; m.Queue == r.Queue {
					r.Bandwidth, r.Latency = min(r.Bandwidth, m.Bandwidth), max(r.Latency, m.Latency)
				}
			}
		}
		fixed, perRow, err := MeasureRowReads(ctx, s, s.Storage(), DeviceOptions{})
		if err != nil {
			return nil, err
		}
		dev.RowReadFixed, dev.RowReadTime = max(dev.RowReadFixed, fixed), max(dev.RowReadTime, perRow)
	}
	words, err := LoadWords(ctx, uri, s)
	if err != nil {
		return nil, err
	}
	p := &plan.Profiles{Geometry: g, Importance: imp, Device: dev, Words: words}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("profiles of %s: %w", uri, err)
	}
	return p, nil
}
