// Package hub downloads model repositories from the Hugging Face hub into
// the hub's standard cache, the one the Python tools (huggingface_hub,
// transformers) read and write, so that a model downloaded by either is
// downloaded once:
//
//	$HF_HOME/hub/models--ORG--NAME/
//	    blobs/ETAG                     file contents, named by ETag (the sha256 of an LFS file)
//	    snapshots/COMMIT/FILENAME      relative symlinks to ../../blobs/ETAG
//	    refs/REVISION                  the commit a branch or tag named last
//
// A download goes to blobs/ETAG.incomplete and resumes from there with an
// HTTP Range request; an LFS file is checked against its sha256 before it
// is renamed into place, and removed if it does not match. Downloads of
// the same blob by two processes are serialized by a file lock under
// .locks/, and the cache's names are written by atomic renames, so two
// pulls of the same model can run at once.
//
// The API is the hub's: GET /api/models/REPO/revision/REV for the commit
// and file list, and HEAD then GET on /REPO/resolve/REV/FILE, which
// redirects LFS files to a file host; the token is never sent to another
// host.
package hub

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// DefaultEndpoint is the hub used when neither Options.Endpoint nor
// HF_ENDPOINT is set.
const DefaultEndpoint = "https://huggingface.co"

// DefaultRevision is the revision of a reference that names none.
const DefaultRevision = "main"

// Errors a pull reports, wrapped with the repository, file and HTTP
// status; test them with errors.Is.
var (
	// ErrUnauthorized: the hub refused access (401 or 403): the repository
	// is private or gated and needs a token that can read it, or does not
	// exist (the hub answers 401 for an unknown repository without a
	// token).
	ErrUnauthorized = errors.New("access denied")
	// ErrNotFound: no such repository, revision or file (404).
	ErrNotFound = errors.New("not found")
	// ErrNetwork: the hub could not be reached.
	ErrNetwork = errors.New("hub unreachable")
	// ErrNotCached: offline, and the cache does not hold what was asked.
	ErrNotCached = errors.New("not in the cache")
	// ErrChecksum: a downloaded file does not have the sha256 or size the
	// hub announced; it has been removed.
	ErrChecksum = errors.New("checksum mismatch")
)

// Options configures a Client. Every zero field falls back to the
// environment as huggingface_hub does, then to its default.
type Options struct {
	// Endpoint is the hub's URL: $HF_ENDPOINT, else DefaultEndpoint.
	Endpoint string
	// Token authenticates to the hub (private and gated repositories):
	// $HF_TOKEN, else the token file huggingface-cli login writes
	// ($HF_TOKEN_PATH, else $HF_HOME/token), else none.
	Token string
	// CacheDir is the hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, where
	// HF_HOME defaults to $XDG_CACHE_HOME/huggingface or
	// ~/.cache/huggingface.
	CacheDir string
	// Offline forbids any network access, as HF_HUB_OFFLINE=1 does
	// (either one turns it on): only the cache is read.
	Offline bool
	// HTTPClient sends the requests; nil means a client with a 30 s
	// connection and header timeout and no overall timeout (model files
	// are large). Its redirect policy is replaced by the client's own.
	HTTPClient *http.Client
	// Progress, if set, is called as a file downloads with the bytes
	// done and the file's size.
	Progress func(file string, done, total int64)
}

// Client pulls repositories into the cache. It is safe for concurrent
// use, and so are two Clients, in one process or in two, on one cache.
type Client struct {
	endpoint string
	token    string
	cache    string
	offline  bool
	http     *http.Client
	progress func(file string, done, total int64)
}

// New returns a client for opts, filled in from the environment.
func New(opts Options) (*Client, error) {
	c := &Client{endpoint: opts.Endpoint, token: opts.Token, cache: opts.CacheDir,
		offline: opts.Offline || truthy(os.Getenv("HF_HUB_OFFLINE")), progress: opts.Progress}
	if c.endpoint == "" {
		c.endpoint = os.Getenv("HF_ENDPOINT")
	}
	if c.endpoint == "" {
		c.endpoint = DefaultEndpoint
	}
	c.endpoint = strings.TrimRight(c.endpoint, "/")
	if !strings.HasPrefix(c.endpoint, "http://") && !strings.HasPrefix(c.endpoint, "https://") {
		return nil, fmt.Errorf("hub: endpoint %q is not an http(s) URL", c.endpoint)
	}
	home := os.Getenv("HF_HOME")
	if home == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			h, err := os.UserHomeDir()
			if err != nil && c.cache == "" {
				return nil, fmt.Errorf("hub: no cache directory (set HF_HOME): %w", err)
			}
			base = filepath.Join(h, ".cache")
		}
		home = filepath.Join(base, "huggingface")
	}
	if c.cache == "" {
		c.cache = os.Getenv("HF_HUB_CACHE")
	}
	if c.cache == "" {
		c.cache = filepath.Join(home, "hub")
	}
	if c.token == "" {
		c.token = os.Getenv("HF_TOKEN")
	}
	if c.token == "" {
		path := os.Getenv("HF_TOKEN_PATH")
		if path == "" {
			path = filepath.Join(home, "token")
		}
		if b, err := os.ReadFile(path); err == nil {
			c.token = strings.TrimSpace(string(b))
		}
	}
	hc := opts.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = 30 * time.Second
		tr.DisableCompression = true // byte ranges and sizes refer to the file itself
		hc = &http.Client{Transport: tr}
	}
	copied := *hc
	copied.CheckRedirect = checkRedirect
	c.http = &copied
	return c, nil
}

// CacheDir returns the hub cache the client reads and writes.
func (c *Client) CacheDir() string { return c.cache }

// Offline reports whether the client stays off the network.
func (c *Client) Offline() bool { return c.offline }

func truthy(s string) bool {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

// Ref names a revision of a repository: "org/name" or "org/name@revision".
type Ref struct {
	// Repo is the repository id, "name" or "org/name".
	Repo string
	// Revision is a branch, a tag or a commit; ParseRef makes it
	// DefaultRevision when the reference names none.
	Revision string
}

// String returns "repo@revision".
func (r Ref) String() string { return r.Repo + "@" + r.Revision }

var (
	repoPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	commitRe = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// ParseRef parses "org/name" or "org/name@revision" (or a bare "name", as
// for the hub's older models). The names follow the hub's rules: letters,
// digits, '.', '_' and '-', at most 96 characters, no "--" or "..".
func ParseRef(s string) (Ref, error) {
	repo, rev, hasRev := strings.Cut(s, "@")
	if hasRev && rev == "" {
		return Ref{}, fmt.Errorf("hub: model id %q: empty revision after @", s)
	}
	if !hasRev {
		rev = DefaultRevision
	}
	parts := strings.Split(repo, "/")
	if len(parts) > 2 || len(repo) > 96 {
		return Ref{}, fmt.Errorf("hub: model id %q: want org/name[@revision]", s)
	}
	for _, p := range parts {
		if !repoPart.MatchString(p) || strings.Contains(p, "--") || strings.Contains(p, "..") || strings.HasSuffix(p, ".") || strings.HasSuffix(p, "-") {
			return Ref{}, fmt.Errorf("hub: model id %q: %q is not a valid name (letters, digits, '.', '_', '-'; no \"--\" or \"..\")", s, p)
		}
	}
	if strings.ContainsAny(rev, "\x00\\") || strings.Contains(rev, "..") || strings.HasPrefix(rev, "/") {
		return Ref{}, fmt.Errorf("hub: model id %q: revision %q is not valid", s, rev)
	}
	return Ref{Repo: repo, Revision: rev}, nil
}

// LooksLikeRef reports whether s has the form of a hub model id ("name",
// "org/name", with an optional "@revision") rather than of a path: no
// leading '.', '/' or '~', at most one '/' before the '@'.
func LooksLikeRef(s string) bool {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "~") {
		return false
	}
	_, err := ParseRef(s)
	return err == nil
}

// RepoDir returns the cache directory of a model repository:
// CACHE/models--org--name.
func (c *Client) RepoDir(repo string) string {
	return filepath.Join(c.cache, "models--"+strings.ReplaceAll(repo, "/", "--"))
}

// Cached returns the snapshot directory the cache holds for ref, without
// touching the network: ref's revision if it is a commit, else the commit
// refs/REVISION names. It fails with ErrNotCached when there is none.
// The snapshot may lack files; check for those the caller needs.
func (c *Client) Cached(ref Ref) (dir, commit string, err error) {
	repoDir := c.RepoDir(ref.Repo)
	commit = ref.Revision
	if !commitRe.MatchString(commit) {
		b, err := os.ReadFile(filepath.Join(repoDir, "refs", filepath.FromSlash(ref.Revision)))
		if err != nil {
			return "", "", fmt.Errorf("hub: %s: %w (no %s)", ref, ErrNotCached, filepath.Join(repoDir, "refs", ref.Revision))
		}
		commit = strings.TrimSpace(string(b))
		if !commitRe.MatchString(commit) {
			return "", "", fmt.Errorf("hub: %s: refs/%s holds %q, not a commit", ref, ref.Revision, commit)
		}
	}
	dir = filepath.Join(repoDir, "snapshots", commit)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", "", fmt.Errorf("hub: %s: %w (no snapshot %s)", ref, ErrNotCached, dir)
	}
	return dir, commit, nil
}
