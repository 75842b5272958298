package wrx

import "testing"

// TestModelIDHasFormat checks that the default store's cache key changes
// with the store format, so that a build writing another format converts
// into a new store instead of opening (or replacing) the old one.
func TestModelIDHasFormat(t *testing.T) {
	dir := t.TempDir()
	a, err := modelID(dir, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := modelID(dir, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := modelID(dir, nil, 1)
	if a == b || a != again {
		t.Errorf("modelID with format 1: %s (again %s), format 2: %s", a, again, b)
	}
}
