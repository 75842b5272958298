//go:build race

package elastic

// raceEnabled: the race detector's instrumentation allocates (and drops
// sync.Pool entries at random), so allocation bounds are not checked
// under it.
const raceEnabled = true
