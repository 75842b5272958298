package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/profiletest"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// storeDigest hashes every file of a file: store's directory except its
// sidecar, and sums the sidecar's bytes.
func storeDigest(t *testing.T, dir string) (data map[string][32]byte, sidecarBytes int64) {
	t.Helper()
	data = map[string][32]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "sidecar"+string(filepath.Separator)) {
			sidecarBytes += int64(len(b))
			return nil
		}
		data[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return data, sidecarBytes
}

// TestConcurrentProfilesLandBesideTheStore runs two wrx profile processes
// at once on one file: store: both profiles land, the store's data and
// index stay byte-identical, and less than 1 MB is written.
func TestConcurrentProfilesLandBesideTheStore(t *testing.T) {
	model := shared.Path(t, "fixtures", "tiny-bert")
	dir := filepath.Join(t.TempDir(), "store")
	uri := "file:" + dir
	if _, _, err := run(t, "", "convert", "--model", model, "--out", uri, "--fidelities", "4,32", "--quiet"); err != nil {
		t.Fatal(err)
	}
	before, _ := storeDigest(t, dir)
	data := profiletest.SST2(t)
	jobs := [][]string{
		{"profile", "words", "--store", uri, "--data", data},
		{"profile", "device", "--store", uri, "--repeats", "1", "--quiet"},
		{"profile", "importance", "--store", uri, "--data", data, "--quiet"},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	outs := make([][]byte, len(jobs))
	for i, args := range jobs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(os.Environ(), "WRX_TEST_AS_WRX=1")
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("wrx %s: %v\n%s", strings.Join(jobs[i][:2], " "), err, outs[i])
		}
	}
	after, written := storeDigest(t, dir)
	if !bytes.Equal(digestBytes(before), digestBytes(after)) {
		t.Errorf("profiling changed the store's files: before %v, after %v", before, after)
	}
	if written <= 0 || written >= 1e6 {
		t.Errorf("the profiles take %d bytes beside the store; want some, under 1 MB", written)
	}
	ctx := context.Background()
	names, err := storage.SidecarNames(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sidecar %v: %d bytes", names, written)
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	be, err := pipeline.OpenBackend("native", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := profile.LoadProfiles(ctx, uri, s, be, storage.ThrottleConfig{}); err != nil {
		t.Errorf("the three profiles do not load together: %v", err)
	}
	if w, err := profile.LoadWords(ctx, uri, s); err != nil || w == nil {
		t.Errorf("word profile: %v, %v", w, err)
	}
}

func digestBytes(m map[string][32]byte) []byte {
	var b bytes.Buffer
	for _, k := range sortedKeys(m) {
		v := m[k]
		b.WriteString(k)
		b.Write(v[:])
	}
	return b.Bytes()
}

func sortedKeys(m map[string][32]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
