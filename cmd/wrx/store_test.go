package main

import (
	"testing"

	"github.com/wrxlabs/wrx/internal/profiletest"
)

// profiledTinyStore converts tiny-bert into a memory store with hand-made
// importance and device profiles.
func profiledTinyStore(t *testing.T) string {
	uri := "mem:cli-" + t.Name()
	profiletest.Store(t, uri)
	return uri
}
