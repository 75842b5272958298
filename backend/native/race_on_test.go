//go:build race

package native

// raceEnabled: the race detector drops sync.Pool entries at random, so
// pooled scratch is allocated again under it.
const raceEnabled = true
