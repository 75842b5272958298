package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wrxlabs/wrx/storage"
)

// The sidecar tests run on drivers that implement storage.SidecarDriver
// and skip on the others.

// sidecarStore commits a small store at c.uri and returns its blobs. It
// skips t if the driver keeps no sidecars.
func sidecarStore(t *testing.T, c target) map[string][]byte {
	t.Helper()
	blobs := map[string][]byte{"manifest": content("manifest", 2345), "L00/H00/attn/q4": content("L00/H00/attn/q4", 5000)}
	write(t, c.uri, blobs, storage.CreateOptions{})
	names, err := storage.SidecarNames(context.Background(), c.uri)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("the driver of %s keeps no sidecars", c.uri)
	}
	if err != nil {
		t.Fatalf("SidecarNames of a fresh store: %v", err)
	}
	if len(names) != 0 {
		t.Fatalf("SidecarNames of a fresh store = %q, want none", names)
	}
	return blobs
}

func writeSidecar(t *testing.T, uri, name string, data []byte) {
	t.Helper()
	if err := storage.WriteSidecar(context.Background(), uri, name, data); err != nil {
		t.Fatalf("WriteSidecar(%q): %v", name, err)
	}
}

func checkSidecar(t *testing.T, uri, name string, want []byte) {
	t.Helper()
	got, err := storage.ReadSidecar(context.Background(), uri, name)
	if err != nil {
		t.Fatalf("ReadSidecar(%q): %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("ReadSidecar(%q) = %d bytes %.20q, want %d bytes %.20q", name, len(got), got, len(want), want)
	}
}

func checkSidecarNames(t *testing.T, uri string, want []string) {
	t.Helper()
	got, err := storage.SidecarNames(context.Background(), uri)
	if err != nil {
		t.Fatalf("SidecarNames: %v", err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("SidecarNames mismatch (-want +got):\n%s", diff)
	}
}

// testSidecarRoundTrip writes, reads and replaces sidecars.
func testSidecarRoundTrip(t *testing.T, c target) {
	ctx := context.Background()
	sidecarStore(t, c)
	long := strings.Repeat("p", storage.MaxSidecarNameLen)
	steps := []struct {
		name string
		data []byte
	}{
		{"profile.json", []byte(`{"device":"pi5","bandwidth":8.5e7}`)},
		{"other_1-x", content("other", 10_000)},
		{"profile.json", []byte(`{"device":"pi5"}`)}, // shorter than before
		{"profile.json", content("profile", 70_000)}, // longer
		{"empty", []byte{}},
		{long, []byte("long name")},
		{"0", []byte("digit")},
	}
	want := map[string][]byte{}
	for _, st := range steps {
		data := bytes.Clone(st.data)
		writeSidecar(t, c.uri, st.name, data)
		for i := range data {
			data[i] = 0 // the sidecar must not share the caller's buffer
		}
		want[st.name] = st.data
		for name, w := range want {
			checkSidecar(t, c.uri, name, w)
		}
	}
	checkSidecarNames(t, c.uri, []string{"0", "empty", "other_1-x", long, "profile.json"})

	got, err := storage.ReadSidecar(ctx, c.uri, "other_1-x")
	if err != nil {
		t.Fatal(err)
	}
	got[0] ^= 0xFF // the caller owns what it read
	checkSidecar(t, c.uri, "other_1-x", want["other_1-x"])

	if err := storage.WriteSidecar(ctx, c.uri, "big", make([]byte, storage.MaxSidecarSize+1)); err == nil {
		t.Errorf("WriteSidecar of %d bytes succeeded, over the %d-byte limit", storage.MaxSidecarSize+1, storage.MaxSidecarSize)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := storage.WriteSidecar(cancelled, c.uri, "profile.json", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteSidecar with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, err := storage.ReadSidecar(cancelled, c.uri, "profile.json"); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadSidecar with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, err := storage.SidecarNames(cancelled, c.uri); !errors.Is(err, context.Canceled) {
		t.Errorf("SidecarNames with a cancelled context: err = %v, want context.Canceled", err)
	}
	checkSidecar(t, c.uri, "profile.json", want["profile.json"])
}

// testSidecarNotFound: a missing sidecar is ErrNotFound; a missing store is
// fs.ErrNotExist, and a write to it leaves nothing that would stop the
// store being created later.
func testSidecarNotFound(t *testing.T, c target) {
	ctx := context.Background()
	err := storage.WriteSidecar(ctx, c.uri, "profile.json", []byte("x"))
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("the driver of %s keeps no sidecars", c.uri)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteSidecar with no store: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := storage.ReadSidecar(ctx, c.uri, "profile.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadSidecar with no store: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := storage.SidecarNames(ctx, c.uri); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SidecarNames with no store: err = %v, want fs.ErrNotExist", err)
	}

	sidecarStore(t, c) // Create without Overwrite must still succeed
	_, err = storage.ReadSidecar(ctx, c.uri, "profile.json")
	if !errors.Is(err, storage.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadSidecar of a missing sidecar: err = %v, want ErrNotFound and not fs.ErrNotExist", err)
	}
	if err != nil && (!strings.Contains(err.Error(), "profile.json") || !strings.Contains(err.Error(), c.uri)) {
		t.Errorf("ReadSidecar error %q does not name the sidecar and %s", err, c.uri)
	}
	writeSidecar(t, c.uri, "a", []byte("a"))
	if _, err := storage.ReadSidecar(ctx, c.uri, "b"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ReadSidecar(b) beside a: err = %v, want ErrNotFound", err)
	}
}

// badSidecarNames are refused by CheckSidecarName, and so by every driver.
var badSidecarNames = []string{
	"", ".", "..", ".hidden", "-x", "_x", "Profile", "a/b", "../index", "../../etc/passwd",
	"sidecar/../data", `a\b`, "a b", "a\x00b", "é", "a:b", "*", strings.Repeat("a", storage.MaxSidecarNameLen+1),
}

func testSidecarBadNames(t *testing.T, c target) {
	ctx := context.Background()
	sidecarStore(t, c)
	for _, name := range badSidecarNames {
		if err := storage.WriteSidecar(ctx, c.uri, name, []byte("x")); err == nil {
			t.Errorf("WriteSidecar(%.30q) accepted a bad name", name)
		}
		if _, err := storage.ReadSidecar(ctx, c.uri, name); err == nil || errors.Is(err, storage.ErrNotFound) {
			t.Errorf("ReadSidecar(%.30q): err = %v, want a bad-name error", name, err)
		}
	}
	checkSidecarNames(t, c.uri, nil)
}

// testSidecarConcurrent: many goroutines write sidecars of their own and
// one shared sidecar at once, while others read the shared one. Every
// own sidecar lands; the shared one is, at every read, one whole version.
func testSidecarConcurrent(t *testing.T, c target) {
	ctx := context.Background()
	sidecarStore(t, c)
	const writers, each, readers = 16, 4, 4
	version := func(g int) []byte { return content(fmt.Sprintf("shared-%d", g), 8000+g*100) }
	initial := version(-1)
	writeSidecar(t, c.uri, "shared", initial)

	var wg sync.WaitGroup
	errs := make(chan error, writers*(each+1)+readers)
	stop := make(chan struct{})
	var want []string
	for g := range writers {
		for i := range each {
			want = append(want, fmt.Sprintf("w%02d-%d", g, i))
		}
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("w%02d-%d", g, i)
				if err := storage.WriteSidecar(ctx, c.uri, name, content(name, 1000+i)); err != nil {
					errs <- err
				}
			}
			if err := storage.WriteSidecar(ctx, c.uri, "shared", version(g)); err != nil {
				errs <- err
			}
		})
	}
	isVersion := func(b []byte) bool {
		if bytes.Equal(b, initial) {
			return true
		}
		for g := range writers {
			if bytes.Equal(b, version(g)) {
				return true
			}
		}
		return false
	}
	var rwg sync.WaitGroup
	for range readers {
		rwg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := storage.ReadSidecar(ctx, c.uri, "shared")
				if err != nil {
					errs <- fmt.Errorf("ReadSidecar(shared) during writes: %w", err)
					return
				}
				if !isVersion(b) {
					errs <- fmt.Errorf("ReadSidecar(shared) during writes: %d bytes that are no version written", len(b))
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	want = append(want, "shared")
	slices.Sort(want)
	checkSidecarNames(t, c.uri, want)
	for g := range writers {
		for i := range each {
			name := fmt.Sprintf("w%02d-%d", g, i)
			checkSidecar(t, c.uri, name, content(name, 1000+i))
		}
	}
	if b, err := storage.ReadSidecar(ctx, c.uri, "shared"); err != nil || bytes.Equal(b, initial) || !isVersion(b) {
		t.Errorf("shared sidecar after the writes: err %v, %d bytes: want one writer's whole version", err, len(b))
	}
}

// testSidecarStoreUntouched: writing sidecars while a handle is open leaves
// the store readable through it, and the store reopens with the same keys
// and blobs.
func testSidecarStoreUntouched(t *testing.T, c target) {
	ctx := context.Background()
	blobs := sidecarStore(t, c)
	s := c.open(t)
	for i := range 3 {
		writeSidecar(t, c.uri, fmt.Sprintf("s%d", i), content("s", 3000*i))
	}
	checkBlobs := func(t *testing.T, what string, s storage.Store) {
		t.Helper()
		keys, err := s.Keys(ctx, "")
		if diff := cmp.Diff(sortedKeys(blobs), keys); err != nil || diff != "" {
			t.Errorf("%s: Keys: err %v, mismatch (-want +got):\n%s", what, err, diff)
		}
		for k, want := range blobs {
			if got, err := storage.ReadAll(ctx, s, k, nil); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: ReadAll(%q): err %v, content equal %v", what, k, err, bytes.Equal(got, want))
			}
		}
	}
	checkBlobs(t, "handle open while sidecars were written", s)
	s.Close()
	checkBlobs(t, "reopened", c.open(t))
}

// testSidecarOverwrite: a store with sidecars can be replaced, and the
// replacement starts with none.
func testSidecarOverwrite(t *testing.T, c target) {
	ctx := context.Background()
	sidecarStore(t, c)
	writeSidecar(t, c.uri, "profile.json", []byte("old"))
	if w, err := storage.Create(ctx, c.uri, storage.CreateOptions{}); !errors.Is(err, storage.ErrExists) {
		if err == nil {
			w.Abort()
		}
		t.Fatalf("Create over a store with sidecars: err = %v, want ErrExists", err)
	}
	write(t, c.uri, map[string][]byte{"new": content("new", 100)}, storage.CreateOptions{Overwrite: true})
	if _, err := storage.ReadSidecar(ctx, c.uri, "profile.json"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ReadSidecar after the store was replaced: err = %v, want ErrNotFound", err)
	}
	checkSidecarNames(t, c.uri, nil)
	if got, err := c.open(t).Keys(ctx, ""); err != nil || !cmp.Equal(got, []string{"new"}) {
		t.Errorf("replaced store: Keys = %v, %v; want [new]", got, err)
	}
	writeSidecar(t, c.uri, "profile.json", []byte("new"))
	checkSidecar(t, c.uri, "profile.json", []byte("new"))
}
