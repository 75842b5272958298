//go:build !linux

package rss

// LoadProgram does nothing where resident sets are not read (only Linux's
// /proc is): see the Linux version.
func LoadProgram() error { return nil }
