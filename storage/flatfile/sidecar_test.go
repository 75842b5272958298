package flatfile_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx/storage"
	"github.com/wrxlabs/wrx/storage/flatfile"
)

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestSidecarsLeaveStoreFilesAlone: sidecars go in their subdirectory; the
// data file and the index stay byte for byte what Commit wrote, and the
// store opens and verifies, with direct IO and without.
func TestSidecarsLeaveStoreFilesAlone(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "s")
	blobs := writeStore(t, dir, 100, 5000, 12000)
	uri := "file:" + dir
	before := map[string][]byte{}
	for _, name := range []string{flatfile.DataFile, flatfile.IndexFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		before[name] = b
	}

	for i, name := range []string{"profile.json", "device-pi5.json", "profile.json", "notes"} {
		if err := storage.WriteSidecar(ctx, uri, name, bytes.Repeat([]byte{byte('a' + i)}, 3000*(i+1))); err != nil {
			t.Fatalf("WriteSidecar(%q): %v", name, err)
		}
	}

	for name, want := range before {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s changed when sidecars were written (err %v)", name, err)
		}
	}
	if diff := cmp.Diff([]string{"data", "index", "sidecar"}, listDir(t, dir)); diff != "" {
		t.Errorf("store directory (-want +got):\n%s", diff)
	}
	// No temporary files left next to the sidecars.
	if diff := cmp.Diff([]string{"device-pi5.json", "notes", "profile.json"}, listDir(t, filepath.Join(dir, "sidecar"))); diff != "" {
		t.Errorf("sidecar directory (-want +got):\n%s", diff)
	}
	for _, mode := range []storage.DirectIO{storage.DirectAuto, storage.DirectOff} {
		s, err := flatfile.Open(ctx, dir, storage.OpenOptions{Direct: mode})
		if err != nil {
			t.Fatalf("Open(%v) of a store with sidecars: %v", mode, err)
		}
		if err := s.Verify(ctx); err != nil {
			t.Errorf("Verify(%v) of a store with sidecars: %v", mode, err)
		}
		for k, want := range blobs {
			if got, err := storage.ReadAll(ctx, s, k, nil); err != nil || !bytes.Equal(got, want) {
				t.Errorf("ReadAll(%q): err %v", k, err)
			}
		}
		s.Close()
	}
}

// The helper process of TestSidecarWritersInProcesses: it writes sidecars
// of its own and a shared one, when run with these variables set.
const (
	envSidecarURI = "WRX_TEST_SIDECAR_URI"
	envSidecarID  = "WRX_TEST_SIDECAR_ID"
)

func sharedVersion(id string) []byte { return bytes.Repeat([]byte(id), 5000) }

func TestSidecarHelperProcess(t *testing.T) {
	uri, id := os.Getenv(envSidecarURI), os.Getenv(envSidecarID)
	if uri == "" {
		return // run by go test, not as the helper process
	}
	ctx := context.Background()
	for i := range 10 {
		name := fmt.Sprintf("p%s-%d", id, i)
		if err := storage.WriteSidecar(ctx, uri, name, []byte(name)); err != nil {
			t.Fatal(err)
		}
		if err := storage.WriteSidecar(ctx, uri, "shared", sharedVersion(id)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSidecarWritersInProcesses runs writers in separate processes, which
// share no lock: sidecars of different names all land, and the one they
// all write is one process's whole version.
func TestSidecarWritersInProcesses(t *testing.T) {
	if os.Getenv(envSidecarURI) != "" {
		t.Skip("in a helper process")
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "s")
	writeStore(t, dir, 100)
	uri := "file:" + dir
	const procs = 4
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSidecarHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), envSidecarURI+"="+uri, fmt.Sprintf("%s=%d", envSidecarID, p))
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for p, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("writer process %d: %v\n%s", p, err, outs[p])
		}
	}

	want := []string{"shared"}
	for p := range procs {
		for i := range 10 {
			want = append(want, fmt.Sprintf("p%d-%d", p, i))
		}
	}
	slices.Sort(want)
	got, err := storage.SidecarNames(ctx, uri)
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Fatalf("SidecarNames: err %v, mismatch (-want +got):\n%s", err, diff)
	}
	for _, name := range want {
		if name == "shared" {
			continue
		}
		if b, err := storage.ReadSidecar(ctx, uri, name); err != nil || string(b) != name {
			t.Errorf("ReadSidecar(%q) = %q, %v", name, b, err)
		}
	}
	shared, err := storage.ReadSidecar(ctx, uri, "shared")
	if err != nil {
		t.Fatal(err)
	}
	whole := false
	for p := range procs {
		whole = whole || bytes.Equal(shared, sharedVersion(fmt.Sprint(p)))
	}
	if !whole {
		t.Errorf("shared sidecar is %d bytes that are no one process's version", len(shared))
	}
}
