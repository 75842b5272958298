package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/shardstore"
)

// TestVerifyCommand runs wrx verify on a sound store and on one with a
// flipped byte: the first passes, the second fails naming the blob, in
// text and in JSON. (shardstore's tests damage every blob in turn.)
func TestVerifyCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	uri := "file:" + dir
	storetest.Synth(t, uri, 4)
	out, _, err := run(t, "", "verify", "--store", uri)
	if err != nil || !strings.Contains(out, " 0 problems") {
		t.Fatalf("sound store: %v\n%s", err, out)
	}
	// The first blob in the data file is emb/position; flip a byte of it.
	data := filepath.Join(dir, "data")
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 0xFF
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err = run(t, "", "verify", "--store", uri)
	if err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(out, "DAMAGED\temb/position\t") || !strings.Contains(out, "checksum") {
		t.Errorf("damaged store: error %v, output:\n%s", err, out)
	}
	out, _, err = run(t, "", "verify", "--store", uri, "--json")
	var r shardstore.VerifyReport
	if jerr := json.Unmarshal([]byte(out), &r); jerr != nil || err == nil || r.OK() || r.URI != uri {
		t.Errorf("damaged store, --json: error %v, report %+v (%v)", err, r, jerr)
	}
	if _, _, err := run(t, "", "verify", "--store", "file:"+filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("no store: %v", err)
	}
}
