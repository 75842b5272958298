//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/profiletest"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// Each kill test SIGKILLs its command timedKills times at moments spread
// evenly over a run, and once at each of its events: moments when a
// file of the output appears, watched for, since the commit is too brief
// to hit by time.
const timedKills = 20

// wrxCommand is the wrx command as a real process: this test binary,
// which TestMain turns into wrx.
func wrxCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "WRX_TEST_AS_WRX=1")
	return cmd
}

// runToEnd runs wrx to completion and returns how long it took.
func runToEnd(t *testing.T, args ...string) time.Duration {
	t.Helper()
	start := time.Now()
	out, err := wrxCommand(args...).CombinedOutput()
	if err != nil {
		t.Fatalf("wrx %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return time.Since(start)
}

// event is a moment of a run to kill it at: when seen reports true.
type event struct {
	name string
	seen func() bool
}

// kill is one kill point: after a time, or at an event.
type kill struct {
	after time.Duration
	event *event
}

func (k kill) String() string {
	if k.event != nil {
		return "when " + k.event.name
	}
	return k.after.String()
}

// killPoints is timedKills moments spread over a run that takes d, then
// one per event.
func killPoints(d time.Duration, events ...event) []kill {
	var ks []kill
	for i := range timedKills {
		ks = append(ks, kill{after: d * time.Duration(i+1) / (timedKills + 1)})
	}
	for i := range events {
		ks = append(ks, kill{event: &events[i]})
	}
	return ks
}

// killAt starts wrx and SIGKILLs it at k, unless it ends first (an event
// is given up on after a minute). It reports whether the kill came before
// the process ended.
func killAt(t *testing.T, k kill, args ...string) bool {
	t.Helper()
	cmd := wrxCommand(args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ended := func(err error) bool {
		if err != nil {
			t.Fatalf("wrx %s ended before its kill with %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return false
	}
	if k.event == nil {
		select {
		case err := <-done:
			return ended(err)
		case <-time.After(k.after):
		}
	} else {
		for give := time.Now().Add(time.Minute); !k.event.seen(); {
			select {
			case err := <-done:
				return ended(err)
			default:
			}
			if time.Now().After(give) {
				t.Fatalf("wrx %s: %s did not happen within a minute", strings.Join(args, " "), k.event.name)
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	<-done
	return true
}

// glob reports whether pattern matches a file.
func glob(pattern string) bool {
	m, _ := filepath.Glob(pattern)
	return len(m) > 0
}

// contentID opens the store at uri, verifies every blob, and returns its
// content ID; a store that does not open gives "" and the error.
func contentID(t *testing.T, uri string) (string, error) {
	t.Helper()
	ctx := context.Background()
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		return "", err
	}
	defer s.Close()
	r, err := shardstore.VerifyURI(ctx, uri)
	if err != nil {
		return "", err
	}
	if !r.OK() {
		t.Errorf("%s opens but is damaged: %+v", uri, r.Problems)
	}
	return s.ContentID(), nil
}

// leftovers lists the temporary files and directories a killed writer
// left in dir (".NAME.tmp-*"), which no reader takes for a store.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestKillConvert runs "wrx convert" as a real process and SIGKILLs it at
// 20 moments spread over its run and at 3 file events (its temporary data
// file appears; its index appears; the index is written, just before the
// rename), twice: writing a new store, and replacing a previous one
// (--overwrite). After every kill the output must either not open, with
// an error saying it is not there, or open as a complete store that
// verifies: the previous version, or the new one whole. Temporary
// directories a kill leaves behind are counted, not taken for stores.
func TestKillConvert(t *testing.T) {
	model := shared.Path(t, "fixtures", "tiny-bert")
	dir := t.TempDir()
	args := func(out string, extra ...string) []string {
		return append([]string{"convert", "--model", model, "--out", "file:" + out, "--quiet"}, extra...)
	}
	// The two complete versions: the previous store (2 and 32 bits) and
	// the new one (every fidelity), and how long a convert takes.
	oldURI, newURI := "file:"+filepath.Join(dir, "old"), "file:"+filepath.Join(dir, "new")
	runToEnd(t, args(filepath.Join(dir, "old"), "--fidelities", "2,32")...)
	took := runToEnd(t, args(filepath.Join(dir, "new"))...)
	oldID, err := contentID(t, oldURI)
	if err != nil {
		t.Fatal(err)
	}
	newID, err := contentID(t, newURI)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a convert takes %v", took)

	for _, overwrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("overwrite=%v", overwrite), func(t *testing.T) {
			outcomes := map[string]int{}
			var out string
			tmp := func(name string) func() bool {
				return func() bool { return glob(filepath.Join(filepath.Dir(out), ".store.tmp-*", name)) }
			}
			points := killPoints(took,
				event{"the temporary data file appears", tmp("data")},
				event{"the index is being written (commit)", tmp("index")},
				event{"the index is written (commit)", func() bool {
					m, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".store.tmp-*", "index"))
					for _, p := range m {
						if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
							return true
						}
					}
					return false
				}},
			)
			for i, at := range points {
				out = filepath.Join(t.TempDir(), "store")
				extra := []string{}
				if overwrite {
					runToEnd(t, args(out, "--fidelities", "2,32")...)
					extra = append(extra, "--overwrite")
				}
				killed := killAt(t, at, args(out, extra...)...)
				id, err := contentID(t, "file:"+out)
				var outcome string
				switch {
				case err != nil && !overwrite && errors.Is(err, fs.ErrNotExist):
					outcome = "no store"
				case err != nil:
					outcome = "HALF-WRITTEN"
					t.Errorf("kill %d at %v: the store does not open: %v", i, at, err)
				case id == newID:
					outcome = "new store"
				case id == oldID && overwrite:
					outcome = "previous store"
				default:
					outcome = "HALF-WRITTEN"
					t.Errorf("kill %d at %v: the store opens with content %s, neither the previous %s nor the new %s", i, at, id, oldID, newID)
				}
				if !killed {
					outcome += " (finished first)"
				}
				if at.event != nil {
					t.Logf("killed %s: %s", at, outcome)
				}
				outcomes[outcome]++
				if left := leftovers(t, filepath.Dir(out)); len(left) > 0 {
					outcomes["temporary directory left"]++
				}
			}
			t.Logf("%d kills, %d spread over %v and one per event: %v", len(points), timedKills, took, outcomes)
		})
	}
}

// TestKillProfile runs "wrx profile importance" as a real process on a
// store that has an importance profile already, and SIGKILLs it at 20
// moments spread over its run and as it writes the new profile. After every kill the profile
// must be the previous one or the new one, whole, and load; the store
// must still verify.
func TestKillProfile(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	uri := "file:" + dir
	profiletest.Synth(t, uri)
	data := filepath.Join(t.TempDir(), "train.tsv")
	var rows strings.Builder
	rows.WriteString("sentence\tlabel\n")
	for i := range 60 {
		fmt.Fprintf(&rows, "a film of %d quiet and sudden moments, bleak or witty %d\t%d\n", i, i*7, i%2)
	}
	if err := os.WriteFile(data, []byte(rows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"profile", "importance", "--store", uri, "--task", "sst2", "--data", data, "--limit", "0", "--quiet"}
	old, err := storage.ReadSidecar(ctx, uri, profile.ImportanceSidecar)
	if err != nil {
		t.Fatal(err)
	}
	took := runToEnd(t, args...)
	fresh, err := storage.ReadSidecar(ctx, uri, profile.ImportanceSidecar)
	if err != nil || bytes.Equal(fresh, old) {
		t.Fatalf("the profile after a whole run: %v (unchanged: %v)", err, bytes.Equal(fresh, old))
	}
	t.Logf("a profile run takes %v", took)
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	outcomes := map[string]int{}
	points := killPoints(took, event{"the new profile's temporary file appears", func() bool {
		return glob(filepath.Join(dir, "sidecar", "."+profile.ImportanceSidecar+".tmp-*"))
	}})
	for i, at := range points {
		if err := storage.WriteSidecar(ctx, uri, profile.ImportanceSidecar, old); err != nil {
			t.Fatal(err)
		}
		killed := killAt(t, at, args...)
		got, err := storage.ReadSidecar(ctx, uri, profile.ImportanceSidecar)
		var outcome string
		switch {
		case err != nil:
			outcome = "HALF-WRITTEN"
			t.Errorf("kill %d at %v: the profile does not read: %v", i, at, err)
		case bytes.Equal(got, old):
			outcome = "previous profile"
		case bytes.Equal(got, fresh):
			outcome = "new profile"
		default:
			outcome = "HALF-WRITTEN"
			t.Errorf("kill %d at %v: the profile is neither the previous nor the new one:\n%s", i, at, got)
		}
		if _, err := profile.LoadImportance(ctx, uri, s); err != nil {
			t.Errorf("kill %d at %v: LoadImportance: %v", i, at, err)
		}
		if !killed {
			outcome += " (finished first)"
		}
		if at.event != nil {
			t.Logf("killed %s: %s", at, outcome)
		}
		outcomes[outcome]++
		if left := leftovers(t, filepath.Join(dir, "sidecar")); len(left) > 0 {
			outcomes["temporary file left"]++
			for _, l := range left {
				os.Remove(filepath.Join(dir, "sidecar", l))
			}
		}
	}
	if r, err := shardstore.VerifyURI(ctx, uri); err != nil || !r.OK() {
		t.Errorf("the store after the kills: %+v, %v", r, err)
	}
	t.Logf("%d kills, %d spread over %v and one per event: %v", len(points), timedKills, took, outcomes)
}
