//go:build !purego && !linux

package native

// amxPermitted reports false: only Linux is asked for the AMX tile state.
func amxPermitted() bool { return false }
