//go:build !linux

package fsutil

func exchange(a, b string) error { return errNoExchange }

func renameNoReplace(old, new string) error { return renameCheck(old, new) }
