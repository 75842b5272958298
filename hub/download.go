package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// RepoInfo is what the hub says about one revision of a repository.
type RepoInfo struct {
	// Commit is the revision's commit sha.
	Commit string
	// Files are the repository's file names at that commit.
	Files []string
}

// Info asks the hub for ref's commit and file list.
func (c *Client) Info(ctx context.Context, ref Ref) (RepoInfo, error) {
	if c.offline {
		return RepoInfo{}, fmt.Errorf("hub: %s: offline (HF_HUB_OFFLINE): %w", ref, ErrNotCached)
	}
	u := c.endpoint + "/api/models/" + escapeRepo(ref.Repo) + "/revision/" + url.PathEscape(ref.Revision)
	req, err := c.request(ctx, http.MethodGet, u)
	if err != nil {
		return RepoInfo{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return RepoInfo{}, c.networkError(ref.String(), err)
	}
	defer resp.Body.Close()
	if err := c.statusError(resp, ref.String()); err != nil {
		return RepoInfo{}, err
	}
	var body struct {
		SHA      string `json:"sha"`
		Siblings []struct {
			RFilename string `json:"rfilename"`
		} `json:"siblings"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&body); err != nil {
		return RepoInfo{}, fmt.Errorf("hub: %s: malformed revision info from %s: %w", ref, u, err)
	}
	if !commitRe.MatchString(body.SHA) {
		return RepoInfo{}, fmt.Errorf("hub: %s: revision info has sha %q, not a commit", ref, body.SHA)
	}
	info := RepoInfo{Commit: body.SHA}
	for _, s := range body.Siblings {
		info.Files = append(info.Files, s.RFilename)
	}
	return info, nil
}

// Download fetches files of repo at commit into the cache (those already
// there are not fetched again), records revision as naming commit in
// refs/ unless it is the commit itself, and returns the snapshot
// directory. Offline, it only checks that the cache holds them.
func (c *Client) Download(ctx context.Context, ref Ref, commit string, files []string) (string, error) {
	if !commitRe.MatchString(commit) {
		return "", fmt.Errorf("hub: %s: %q is not a commit", ref, commit)
	}
	for _, f := range files {
		if err := checkFilename(f); err != nil {
			return "", fmt.Errorf("hub: %s: %w", ref, err)
		}
	}
	repoDir := c.RepoDir(ref.Repo)
	snap := filepath.Join(repoDir, "snapshots", commit)
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		dst := filepath.Join(snap, filepath.FromSlash(f))
		if _, err := os.Stat(dst); err == nil {
			continue // a symlink to a complete blob
		}
		if c.offline {
			return "", fmt.Errorf("hub: %s: %s: offline (HF_HUB_OFFLINE): %w", ref, f, ErrNotCached)
		}
		if err := c.downloadFile(ctx, ref, commit, f, repoDir, dst); err != nil {
			return "", err
		}
	}
	if ref.Revision != commit && !c.offline {
		refPath := filepath.Join(repoDir, "refs", filepath.FromSlash(ref.Revision))
		if err := writeAtomic(refPath, []byte(commit)); err != nil {
			return "", fmt.Errorf("hub: %s: %w", ref, err)
		}
	}
	return snap, nil
}

// checkFilename refuses a file name that could leave the snapshot.
func checkFilename(f string) error {
	if f == "" || strings.HasPrefix(f, "/") || strings.Contains(f, `\`) || strings.ContainsRune(f, 0) || path.Clean(f) != f {
		return fmt.Errorf("file name %q is not a plain relative path", f)
	}
	for _, part := range strings.Split(f, "/") {
		if part == ".." || part == "." {
			return fmt.Errorf("file name %q is not a plain relative path", f)
		}
	}
	return nil
}

// etagRe is what the cache accepts as a blob name: the hub's git and LFS
// object ids, and other servers' opaque tags.
var (
	etagRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+=-]{0,127}$`)
	sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// fileMeta is what HEAD on a resolve URL tells.
type fileMeta struct {
	commit   string
	etag     string
	size     int64 // -1: unknown
	location string
	lfs      bool // X-Linked-Etag: etag is the sha256 of the content
}

func (c *Client) head(ctx context.Context, ref Ref, commit, file string) (fileMeta, error) {
	u := c.resolveURL(ref.Repo, commit, file)
	req, err := c.request(ctx, http.MethodHead, u)
	if err != nil {
		return fileMeta{}, err
	}
	resp, err := c.http.Do(req)
	what := ref.Repo + "/" + file
	if err != nil {
		return fileMeta{}, c.networkError(what, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 {
		if err := c.statusError(resp, what); err != nil {
			return fileMeta{}, err
		}
	}
	m := fileMeta{commit: resp.Header.Get("X-Repo-Commit"), size: -1, location: u}
	m.etag = resp.Header.Get("X-Linked-Etag")
	m.lfs = m.etag != ""
	if !m.lfs {
		m.etag = resp.Header.Get("ETag")
	}
	m.etag = strings.Trim(strings.TrimPrefix(m.etag, "W/"), `"`)
	size := resp.Header.Get("X-Linked-Size")
	if size == "" && resp.StatusCode/100 == 2 && resp.ContentLength >= 0 {
		size = strconv.FormatInt(resp.ContentLength, 10)
	}
	if size != "" {
		if m.size, err = strconv.ParseInt(size, 10, 64); err != nil || m.size < 0 {
			return fileMeta{}, fmt.Errorf("hub: %s: bad size header %q", what, size)
		}
	}
	if resp.StatusCode/100 == 3 {
		loc, err := resp.Location()
		if err != nil {
			return fileMeta{}, fmt.Errorf("hub: %s: redirect without a location: %w", what, err)
		}
		m.location = loc.String()
	}
	if m.commit != "" && m.commit != commit {
		return fileMeta{}, fmt.Errorf("hub: %s: the hub serves commit %s, asked for %s", what, m.commit, commit)
	}
	if !etagRe.MatchString(m.etag) {
		return fileMeta{}, fmt.Errorf("hub: %s: no usable ETag from %s (got %q)", what, u, m.etag)
	}
	if m.lfs && !sha256Re.MatchString(m.etag) {
		return fileMeta{}, fmt.Errorf("hub: %s: linked ETag %q is not a sha256", what, m.etag)
	}
	return m, nil
}

func (c *Client) downloadFile(ctx context.Context, ref Ref, commit, file, repoDir, dst string) error {
	m, err := c.head(ctx, ref, commit, file)
	if err != nil {
		return err
	}
	blob := filepath.Join(repoDir, "blobs", m.etag)
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	// One process at a time fetches a blob; the others wait, then find it.
	lockPath := filepath.Join(c.cache, ".locks", filepath.Base(repoDir), m.etag+".lock")
	if err := os.MkdirAll(filepath.Dir(lockPath), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	lock := flock.New(lockPath)
	if _, err := lock.TryLockContext(ctx, 50*time.Millisecond); err != nil {
		return fmt.Errorf("hub: lock %s: %w", lockPath, err)
	}
	defer lock.Unlock()
	if _, err := os.Stat(blob); err != nil {
		if err := c.fetchBlob(ctx, ref.Repo+"/"+file, m, blob); err != nil {
			return err
		}
	}
	return linkAtomic(blob, dst)
}

// fetchBlob downloads m.location into blob+".incomplete", resuming what is
// there, verifies it and renames it to blob.
func (c *Client) fetchBlob(ctx context.Context, what string, m fileMeta, blob string) error {
	tmp := blob + ".incomplete"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if m.size >= 0 && have > m.size {
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
		have, _ = f.Seek(0, io.SeekStart)
	}
	if m.size < 0 || have < m.size {
		if err := c.get(ctx, what, m, f, have); err != nil {
			return err
		}
	}
	if err := verify(f, m); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("hub: %s: %w", what, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if err := os.Rename(tmp, blob); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

// get appends the file from byte have on to f.
func (c *Client) get(ctx context.Context, what string, m fileMeta, f *os.File, have int64) error {
	req, err := c.request(ctx, http.MethodGet, m.location)
	if err != nil {
		return err
	}
	// A signed URL on a file host carries its own authorization; the
	// token is only for the hub.
	if sameHost(c.endpoint, m.location) {
		c.authorize(req)
	} else {
		req.Header.Del("Authorization")
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.networkError(what, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		var start int64 = -1
		fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &start)
		if start != have {
			return fmt.Errorf("hub: %s: asked for bytes from %d, got Content-Range %q", what, have, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
		have = 0
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && m.size < 0:
		return nil // complete already; verify decides
	default:
		if err := c.statusError(resp, what); err != nil {
			return err
		}
		return fmt.Errorf("hub: %s: unexpected %s", what, resp.Status)
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	w := &progressWriter{w: f, file: what, done: have, total: m.size, fn: c.progress}
	if c.progress != nil {
		c.progress(what, have, m.size)
	}
	if _, err := io.Copy(w, ctxReader{ctx, resp.Body}); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("hub: %s: download interrupted at byte %d of %d (a new pull resumes it): %w", what, w.done, m.size, errors.Join(ErrNetwork, err))
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// progressWriter counts the bytes written and reports them to fn, if set.
type progressWriter struct {
	w           io.Writer
	file        string
	done, total int64
	fn          func(string, int64, int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.fn != nil {
		p.fn(p.file, p.done, p.total)
	}
	return n, err
}

// verify checks the size the hub announced and, for an LFS file, the
// sha256 its ETag names.
func verify(f *os.File, m fileMeta) error {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if m.size >= 0 && size != m.size {
		return fmt.Errorf("%w: %d bytes, the hub announced %d; removed", ErrChecksum, size, m.size)
	}
	if !m.lfs {
		return nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.etag {
		return fmt.Errorf("%w: sha256 %s, the hub announced %s; removed", ErrChecksum, got, m.etag)
	}
	return nil
}

// linkAtomic points dst at blob with a relative symlink, replacing what
// dst was.
func linkAtomic(blob, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	rel, err := filepath.Rel(filepath.Dir(dst), blob)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	tmp := fmt.Sprintf("%s.%d.%d.tmp", dst, os.Getpid(), time.Now().UnixNano())
	if err := os.Symlink(rel, tmp); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

// writeAtomic writes a small file through a temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

func (c *Client) resolveURL(repo, rev, file string) string {
	parts := strings.Split(file, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return c.endpoint + "/" + escapeRepo(repo) + "/resolve/" + url.PathEscape(rev) + "/" + strings.Join(parts, "/")
}

func escapeRepo(repo string) string {
	org, name, ok := strings.Cut(repo, "/")
	if !ok {
		return url.PathEscape(repo)
	}
	return url.PathEscape(org) + "/" + url.PathEscape(name)
}

func (c *Client) request(ctx context.Context, method, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	req.Header.Set("User-Agent", "wrx-hub/1")
	req.Header.Set("Accept-Encoding", "identity")
	if sameHost(c.endpoint, u) {
		c.authorize(req)
	}
	return req, nil
}

func (c *Client) authorize(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && ua.Host == ub.Host
}

// checkRedirect follows a redirect only to the same host and scheme (a
// renamed repository), keeping the token there. A HEAD stops at a
// redirect to another host, whose headers say where the file is; any
// other request following one drops the Authorization header, which Go
// would otherwise keep on a subdomain.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	first := via[0]
	if req.URL.Host == first.URL.Host && req.URL.Scheme == first.URL.Scheme {
		if auth := first.Header.Get("Authorization"); auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return nil
	}
	if req.Method == http.MethodHead {
		return http.ErrUseLastResponse
	}
	req.Header.Del("Authorization")
	return nil
}

// statusError turns a failed response into an error wrapping ErrNotFound,
// ErrUnauthorized or nothing, with the hub's own message when it gives
// one (X-Error-Code, X-Error-Message).
func (c *Client) statusError(resp *http.Response, what string) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	msg := resp.Header.Get("X-Error-Message")
	code := resp.Header.Get("X-Error-Code")
	detail := resp.Status
	if msg != "" {
		detail += ": " + msg
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("hub: %s: %w (%s)", what, ErrNotFound, detail)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		why := "the repository is private or gated, or does not exist"
		switch {
		case code == "GatedRepo":
			why = "the repository is gated: accept its conditions on the hub with the account of the token"
		case code == "RepoNotFound" || code == "RepositoryNotFound":
			why = "no such repository, or it is private"
		}
		if c.token == "" {
			why += "; no token was sent (HF_TOKEN)"
		} else {
			why += "; the token sent cannot read it"
		}
		return fmt.Errorf("hub: %s: %w: %s (%s)", what, ErrUnauthorized, why, detail)
	}
	return fmt.Errorf("hub: %s: %s", what, detail)
}

func (c *Client) networkError(what string, err error) error {
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	if errors.As(err, &oe) || errors.As(err, &de) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("hub: %s: cannot reach %s: %w", what, c.endpoint, errors.Join(ErrNetwork, err))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("hub: %s: %w", what, errors.Join(ErrNetwork, err))
}
