package hub_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wrxlabs/wrx/hub"
	"github.com/wrxlabs/wrx/internal/hubtest"
)

const repoID = "wrx-test/bert-bin"

// setup serves the bert-bin checkpoint (a pytorch_model.bin in LFS, and
// regular files) from a fake hub, and returns a client with an empty
// cache.
func setup(t *testing.T, opts hub.Options) (*hubtest.Server, map[string][]byte, string, *hub.Client) {
	t.Helper()
	srv := hubtest.New(t)
	files := hubtest.ReadDir(t, hubtest.Testdata("bert-bin"))
	commit := srv.Add(repoID, files)
	opts.Endpoint = srv.URL()
	if opts.CacheDir == "" {
		opts.CacheDir = t.TempDir()
	}
	c, err := hub.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv, files, commit, c
}

func pull(t *testing.T, c *hub.Client, ref string, files ...string) (string, error) {
	t.Helper()
	r, err := hub.ParseRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background(), r)
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		files = info.Files
	}
	return c.Download(context.Background(), r, info.Commit, files)
}

// tree lists a cache as find does, with symlink targets.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.Type()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			rel += " -> " + target
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestDownloadCacheLayout pulls a repository and checks the cache is laid
// out as huggingface_hub lays it out: blobs named by ETag (the sha256 of
// an LFS file, the git object id of a regular one), snapshot files as
// relative symlinks to them, refs/main holding the commit.
func TestDownloadCacheLayout(t *testing.T) {
	_, files, commit, c := setup(t, hub.Options{})
	snap, err := pull(t, c, repoID)
	if err != nil {
		t.Fatal(err)
	}
	repoDir := c.RepoDir(repoID)
	if want := filepath.Join(c.CacheDir(), "models--wrx-test--bert-bin", "snapshots", commit); snap != want {
		t.Errorf("snapshot %s, want %s", snap, want)
	}
	t.Logf("cache tree:\n%s", strings.Join(tree(t, c.CacheDir()), "\n"))
	for name, data := range files {
		link := filepath.Join(snap, name)
		target, err := os.Readlink(link)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		etag := hubtest.GitOID(data)
		if hubtest.IsLFS(name, len(data)) {
			etag = hubtest.SHA256(data)
		}
		if want := filepath.Join("..", "..", "blobs", etag); target != want {
			t.Errorf("%s -> %s, want %s", name, target, want)
		}
		got, err := os.ReadFile(link)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: content differs (%v)", name, err)
		}
	}
	ref, err := os.ReadFile(filepath.Join(repoDir, "refs", "main"))
	if err != nil || string(ref) != commit {
		t.Errorf("refs/main = %q, %v; want %s", ref, err, commit)
	}
	matches, _ := filepath.Glob(filepath.Join(repoDir, "blobs", "*.incomplete"))
	if len(matches) > 0 {
		t.Errorf("incomplete downloads left: %v", matches)
	}
	dir, gotCommit, err := c.Cached(hub.Ref{Repo: repoID, Revision: "main"})
	if err != nil || dir != snap || gotCommit != commit {
		t.Errorf("Cached = %s, %s, %v; want %s, %s", dir, gotCommit, err, snap, commit)
	}
}

// TestTokenStaysOnTheHub pulls a repository that needs a token: the hub
// gets it, the file host the LFS file redirects to does not.
func TestTokenStaysOnTheHub(t *testing.T) {
	srv, _, _, c := setup(t, hub.Options{Token: "hf_secret"})
	srv.RequireToken(repoID, "hf_secret")
	if _, err := pull(t, c, repoID); err != nil {
		t.Fatal(err)
	}
	var cdn int
	for _, r := range srv.Requests() {
		switch r.Server {
		case "hub":
			if r.Auth != "Bearer hf_secret" {
				t.Errorf("hub %s %s without the token (%q)", r.Method, r.Path, r.Auth)
			}
		case "cdn":
			cdn++
			if r.Auth != "" {
				t.Errorf("file host %s %s got Authorization %q", r.Method, r.Path, r.Auth)
			}
		}
	}
	if cdn != 1 {
		t.Errorf("%d requests to the file host, want 1 (the .bin)", cdn)
	}
}

func TestErrors(t *testing.T) {
	srv, _, _, c := setup(t, hub.Options{})
	srv.RequireToken("wrx-test/gated", "hf_right")
	srv.Add("wrx-test/gated", map[string][]byte{"config.json": []byte("{}")})
	ctx := context.Background()

	_, err := pull(t, c, "wrx-test/gated")
	if !errors.Is(err, hub.ErrUnauthorized) || !strings.Contains(err.Error(), "no token was sent (HF_TOKEN)") || !strings.Contains(err.Error(), "gated") {
		t.Errorf("gated without a token: %v", err)
	}
	wrong, _ := hub.New(hub.Options{Endpoint: srv.URL(), CacheDir: t.TempDir(), Token: "hf_wrong"})
	_, err = pull(t, wrong, "wrx-test/gated")
	if !errors.Is(err, hub.ErrUnauthorized) || !strings.Contains(err.Error(), "the token sent cannot read it") {
		t.Errorf("gated with a wrong token: %v", err)
	}
	for _, ref := range []string{"wrx-test/nope", repoID + "@v9"} {
		if _, err := pull(t, c, ref); !errors.Is(err, hub.ErrNotFound) || !strings.Contains(err.Error(), "404") {
			t.Errorf("%s: %v, want ErrNotFound with the status", ref, err)
		}
	}
	if _, err := pull(t, c, repoID, "missing.json"); !errors.Is(err, hub.ErrNotFound) || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
	// A file name from a hostile hub cannot leave the snapshot.
	if _, err := c.Download(ctx, hub.Ref{Repo: repoID, Revision: "main"}, strings.Repeat("a", 40), []string{"../../x"}); err == nil || !strings.Contains(err.Error(), "not a plain relative path") {
		t.Errorf("file name ../../x: %v", err)
	}

	// Nothing listens on a port just closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	down, _ := hub.New(hub.Options{Endpoint: "http://" + addr, CacheDir: t.TempDir()})
	if _, err := pull(t, down, repoID); !errors.Is(err, hub.ErrNetwork) || !strings.Contains(err.Error(), "cannot reach http://"+addr) {
		t.Errorf("no network: %v", err)
	}
}

// TestResume drops the connection in the middle of the .bin: the pull
// fails and leaves blobs/SHA.incomplete, and the next pull asks only for
// the rest with a Range request.
func TestResume(t *testing.T) {
	srv, files, _, c := setup(t, hub.Options{})
	bin := files["pytorch_model.bin"]
	const cut = 200_000
	srv.DropAfter(bin, cut, 1)
	_, err := pull(t, c, repoID)
	if !errors.Is(err, hub.ErrNetwork) || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("dropped connection: %v", err)
	}
	partial := filepath.Join(c.RepoDir(repoID), "blobs", hubtest.SHA256(bin)+".incomplete")
	st, err := os.Stat(partial)
	if err != nil || st.Size() != cut {
		t.Fatalf("partial download: %v, size %d; want %d bytes", err, st.Size(), cut)
	}
	snap, err := pull(t, c, repoID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(snap, "pytorch_model.bin"))
	if err != nil || !bytes.Equal(got, bin) {
		t.Fatalf("resumed file differs (%v)", err)
	}
	var ranges []string
	for _, r := range srv.Requests() {
		if r.Server == "cdn" {
			ranges = append(ranges, r.Range)
		}
	}
	if d := cmp.Diff([]string{"", "bytes=200000-"}, ranges); d != "" {
		t.Errorf("file host Range headers (-want +got):\n%s", d)
	}
	if _, err := os.Stat(partial); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the .incomplete file is still there: %v", err)
	}
}

// TestChecksumMismatch serves the .bin with a byte changed: the pull
// fails naming both sha256s and leaves nothing behind; once the file host
// serves it right, the pull succeeds.
func TestChecksumMismatch(t *testing.T) {
	srv, files, _, c := setup(t, hub.Options{})
	bin := files["pytorch_model.bin"]
	srv.Corrupt(bin, true)
	_, err := pull(t, c, repoID)
	if !errors.Is(err, hub.ErrChecksum) || !strings.Contains(err.Error(), hubtest.SHA256(bin)) {
		t.Fatalf("corrupt file: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(c.RepoDir(repoID), "blobs", hubtest.SHA256(bin)+"*"))
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if _, err := os.Stat(filepath.Join(c.RepoDir(repoID), "snapshots")); err == nil {
		if _, err := os.Lstat(filepath.Join(c.RepoDir(repoID), "snapshots", "*", "pytorch_model.bin")); err == nil {
			t.Error("snapshot links a corrupt file")
		}
	}
	srv.Corrupt(bin, false)
	if _, err := pull(t, c, repoID); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentPulls runs two clients on one cache at once: both get the
// model, and the .bin is fetched once.
func TestConcurrentPulls(t *testing.T) {
	srv, files, _, c := setup(t, hub.Options{})
	other, err := hub.New(hub.Options{Endpoint: srv.URL(), CacheDir: c.CacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := c
			if i%2 == 1 {
				cl = other
			}
			_, errs[i] = pull(t, cl, repoID)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("pull %d: %v", i, err)
		}
	}
	cdn := 0
	for _, r := range srv.Requests() {
		if r.Server == "cdn" {
			cdn++
		}
	}
	if cdn != 1 {
		t.Errorf("the .bin was fetched %d times, want 1", cdn)
	}
	snap, _, err := c.Cached(hub.Ref{Repo: repoID, Revision: "main"})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if got, err := os.ReadFile(filepath.Join(snap, name)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s differs (%v)", name, err)
		}
	}
}

// TestOffline reads the cache only: what was pulled is there, anything
// else is ErrNotCached, and no request is sent.
func TestOffline(t *testing.T) {
	srv, _, commit, c := setup(t, hub.Options{})
	if _, err := pull(t, c, repoID, "config.json"); err != nil {
		t.Fatal(err)
	}
	n := len(srv.Requests())
	off, err := hub.New(hub.Options{Endpoint: srv.URL(), CacheDir: c.CacheDir(), Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	ref := hub.Ref{Repo: repoID, Revision: "main"}
	if _, err := off.Info(context.Background(), ref); !errors.Is(err, hub.ErrNotCached) {
		t.Errorf("Info offline: %v", err)
	}
	if _, err := off.Download(context.Background(), ref, commit, []string{"config.json"}); err != nil {
		t.Errorf("cached file offline: %v", err)
	}
	if _, err := off.Download(context.Background(), ref, commit, []string{"vocab.txt"}); !errors.Is(err, hub.ErrNotCached) {
		t.Errorf("missing file offline: %v", err)
	}
	if _, _, err := off.Cached(hub.Ref{Repo: repoID, Revision: "v2"}); !errors.Is(err, hub.ErrNotCached) {
		t.Errorf("unknown revision offline: %v", err)
	}
	if got := len(srv.Requests()); got != n {
		t.Errorf("%d requests offline", got-n)
	}
}

func TestEnvironment(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_ENDPOINT", "http://127.0.0.1:1/")
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_TOKEN_PATH", "")
	t.Setenv("HF_HUB_OFFLINE", "1")
	if err := os.WriteFile(filepath.Join(home, "token"), []byte("hf_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := hub.New(hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.CacheDir() != filepath.Join(home, "hub") || !c.Offline() {
		t.Errorf("cache %s, offline %v; want %s, true", c.CacheDir(), c.Offline(), filepath.Join(home, "hub"))
	}
	// The token file is read, and sent: the fake hub checks it.
	srv := hubtest.New(t)
	srv.Add(repoID, map[string][]byte{"config.json": []byte("{}")})
	srv.RequireToken(repoID, "hf_file")
	t.Setenv("HF_ENDPOINT", srv.URL())
	t.Setenv("HF_HUB_OFFLINE", "0")
	c, _ = hub.New(hub.Options{})
	if _, err := pull(t, c, repoID); err != nil {
		t.Errorf("with the token file: %v", err)
	}
	t.Setenv("HF_TOKEN", "hf_env")
	c, _ = hub.New(hub.Options{})
	if _, err := pull(t, c, repoID); !errors.Is(err, hub.ErrUnauthorized) {
		t.Errorf("HF_TOKEN wins over the token file: %v", err)
	}
}

func TestParseRef(t *testing.T) {
	for in, want := range map[string]hub.Ref{
		"org/name":          {"org/name", "main"},
		"org/name@v1.0":     {"org/name", "v1.0"},
		"bert-base-uncased": {"bert-base-uncased", "main"},
		"cross-encoder/ms-marco-MiniLM-L-6-v2@refs/pr/1": {"cross-encoder/ms-marco-MiniLM-L-6-v2", "refs/pr/1"},
	} {
		got, err := hub.ParseRef(in)
		if err != nil || got != want {
			t.Errorf("ParseRef(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a/b/c", "org/na--me", "org/name@", "org/../x", "org/name@../x", "-org/name"} {
		if _, err := hub.ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q): no error", bad)
		}
	}
	for s, want := range map[string]bool{"org/name": true, "org/name@main": true, "./org/name": false, "name": true, "~/models/x": false, "/abs/dir": false, "a/b/c": false} {
		if got := hub.LooksLikeRef(s); got != want {
			t.Errorf("LooksLikeRef(%q) = %v, want %v", s, got, want)
		}
	}
}
