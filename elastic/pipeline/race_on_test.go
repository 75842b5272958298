//go:build race

package pipeline

// raceEnabled: the race detector's instrumentation allocates (and drops
// sync.Pool entries at random), so allocation bounds are not checked
// under it.
const raceEnabled = true
