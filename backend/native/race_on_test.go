//go:build race

package native

// raceEnabled: the race detector's instrumentation allocates (and drops
// sync.Pool entries at random), so allocation bounds are not checked
// under it.
const raceEnabled = true
