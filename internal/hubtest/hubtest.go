// Package hubtest is a fake Hugging Face hub for tests: the part of the
// hub's HTTP API that a client downloading models uses, on loopback, with
// a second server standing for the file host that LFS files redirect to,
// and faults to inject. It is imported by tests only.
//
// The API: GET /api/models/REPO/revision/REV answers {"sha", "siblings":
// [{"rfilename"}]}; HEAD and GET /REPO/resolve/REV/FILE answer with
// X-Repo-Commit and the file's git object id as ETag, and for an LFS file
// (weights) a 302 to the file host with X-Linked-Etag (its sha256) and
// X-Linked-Size. Both servers honour "Range: bytes=N-". An unknown
// repository, revision or file is a 404 with the hub's X-Error-Code; a
// repository that needs a token answers 401 without it.
package hubtest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is a fake hub. Its methods are safe for concurrent use.
type Server struct {
	// Hub serves the API; CDN is the file host LFS files redirect to, on
	// another port and so another host.
	Hub, CDN *httptest.Server

	mu      sync.Mutex
	repos   map[string]*repo
	blobs   map[string][]byte // by sha256
	tokens  map[string]string // repo -> the token it requires
	drops   map[string]*drop  // sha256 -> fault
	corrupt map[string]bool   // sha256 -> serve wrong bytes
	log     []Request
	commits int
}

type repo struct {
	refs    map[string]string            // branch or tag -> commit
	commits map[string]map[string][]byte // commit -> files
}

type drop struct {
	after int64
	times int
}

// Request is one request either server received.
type Request struct {
	Server string // "hub" or "cdn"
	Method string
	Path   string
	Auth   string // the Authorization header
	Range  string
	Status int
}

// New starts a fake hub, closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{repos: map[string]*repo{}, blobs: map[string][]byte{}, tokens: map[string]string{},
		drops: map[string]*drop{}, corrupt: map[string]bool{}}
	s.Hub = httptest.NewServer(http.HandlerFunc(s.serveHub))
	s.CDN = httptest.NewServer(http.HandlerFunc(s.serveCDN))
	t.Cleanup(func() {
		s.Hub.Close()
		s.CDN.Close()
	})
	return s
}

// URL is the hub's endpoint, for HF_ENDPOINT or hub.Options.Endpoint.
func (s *Server) URL() string { return s.Hub.URL }

// IsLFS reports whether the fake hub stores a file in LFS: weights, and
// anything of 10 MB or more, as the hub's .gitattributes do.
func IsLFS(name string, size int) bool {
	switch path.Ext(name) {
	case ".safetensors", ".bin", ".h5", ".onnx", ".msgpack", ".pt":
		return true
	}
	return size >= 10<<20
}

// GitOID is the git blob id the hub gives a regular file as its ETag.
func GitOID(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// SHA256 is the id of an LFS file.
func SHA256(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// Add commits files to repo's branch "main" (creating the repository) and
// returns the commit.
func (s *Server) Add(repoID string, files map[string][]byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repoID]
	if r == nil {
		r = &repo{refs: map[string]string{}, commits: map[string]map[string][]byte{}}
		s.repos[repoID] = r
	}
	s.commits++
	h := sha1.New()
	fmt.Fprintf(h, "%s %d\n", repoID, s.commits)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	snap := map[string][]byte{}
	for _, n := range names {
		fmt.Fprintf(h, "%s %s\n", n, GitOID(files[n]))
		snap[n] = files[n]
		if IsLFS(n, len(files[n])) {
			s.blobs[SHA256(files[n])] = files[n]
		}
	}
	commit := hex.EncodeToString(h.Sum(nil))
	r.commits[commit] = snap
	r.refs["main"] = commit
	return commit
}

// Tag names commit in repo with a branch or tag name.
func (s *Server) Tag(repoID, name, commit string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[repoID].refs[name] = commit
}

// RequireToken makes repo answer 401 unless the request carries
// "Authorization: Bearer token", as a private or gated repository does.
func (s *Server) RequireToken(repoID, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[repoID] = token
}

// DropAfter makes the next times downloads of data that reach byte after
// stop there, the connection closed mid-file.
func (s *Server) DropAfter(data []byte, after int64, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drops[SHA256(data)] = &drop{after: after, times: times}
}

// Corrupt makes the file host serve data with one byte changed (or
// correctly again, with on false): its sha256 no longer matches.
func (s *Server) Corrupt(data []byte, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corrupt[SHA256(data)] = on
}

// Requests returns the requests both servers received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

func (s *Server) record(server string, r *http.Request, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, Request{Server: server, Method: r.Method, Path: r.URL.Path,
		Auth: r.Header.Get("Authorization"), Range: r.Header.Get("Range"), Status: status})
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	s.record("hub", r, status)
	w.Header().Set("X-Error-Code", code)
	w.Header().Set("X-Error-Message", msg)
	http.Error(w, msg, status)
}

// lookup resolves repo and revision, checking the token.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, repoID, rev string) (map[string][]byte, string, bool) {
	s.mu.Lock()
	rp := s.repos[repoID]
	want, needs := s.tokens[repoID]
	var files map[string][]byte
	commit := ""
	if rp != nil {
		commit = rev
		if c, ok := rp.refs[rev]; ok {
			commit = c
		}
		files = rp.commits[commit]
	}
	s.mu.Unlock()
	switch {
	case needs && r.Header.Get("Authorization") != "Bearer "+want:
		s.fail(w, r, http.StatusUnauthorized, "GatedRepo", "Access to model "+repoID+" is restricted. You must have access to it and be authenticated to access it.")
	case rp == nil:
		s.fail(w, r, http.StatusNotFound, "RepoNotFound", "Repository not found")
	case files == nil:
		s.fail(w, r, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
	default:
		return files, commit, true
	}
	return nil, "", false
}

func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	if rest, ok := strings.CutPrefix(p, "/api/models/"); ok && r.Method == http.MethodGet {
		i := strings.LastIndex(rest, "/revision/")
		if i < 0 {
			s.fail(w, r, http.StatusNotFound, "", "no revision in path")
			return
		}
		repoID, _ := url.PathUnescape(rest[:i])
		rev, _ := url.PathUnescape(rest[i+len("/revision/"):])
		files, commit, ok := s.lookup(w, r, repoID, rev)
		if !ok {
			return
		}
		type sibling struct {
			RFilename string `json:"rfilename"`
		}
		body := struct {
			ID       string    `json:"id"`
			SHA      string    `json:"sha"`
			Siblings []sibling `json:"siblings"`
		}{ID: repoID, SHA: commit, Siblings: []sibling{}}
		for n := range files {
			body.Siblings = append(body.Siblings, sibling{n})
		}
		sort.Slice(body.Siblings, func(i, j int) bool { return body.Siblings[i].RFilename < body.Siblings[j].RFilename })
		s.record("hub", r, http.StatusOK)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(body)
		return
	}
	i := strings.Index(p, "/resolve/")
	if i < 0 || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		s.fail(w, r, http.StatusNotFound, "", "not found")
		return
	}
	repoID, _ := url.PathUnescape(strings.TrimPrefix(p[:i], "/"))
	revFile := p[i+len("/resolve/"):]
	j := strings.Index(revFile, "/")
	if j < 0 {
		s.fail(w, r, http.StatusNotFound, "", "no file in path")
		return
	}
	rev, _ := url.PathUnescape(revFile[:j])
	file, _ := url.PathUnescape(revFile[j+1:])
	files, commit, ok := s.lookup(w, r, repoID, rev)
	if !ok {
		return
	}
	data, ok := files[file]
	if !ok {
		s.fail(w, r, http.StatusNotFound, "EntryNotFound", file+" does not exist on \""+rev+"\"")
		return
	}
	h := w.Header()
	h.Set("X-Repo-Commit", commit)
	h.Set("ETag", `"`+GitOID(data)+`"`)
	if IsLFS(file, len(data)) {
		sum := SHA256(data)
		h.Set("X-Linked-Etag", `"`+sum+`"`)
		h.Set("X-Linked-Size", strconv.Itoa(len(data)))
		h.Set("Location", s.CDN.URL+"/lfs/"+sum+"?response-content-disposition="+url.QueryEscape(path.Base(file))+"&Signature=fake")
		s.record("hub", r, http.StatusFound)
		w.WriteHeader(http.StatusFound)
		return
	}
	s.record("hub", r, http.StatusOK)
	serveBytes(w, r, data, nil)
}

func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	sum, ok := strings.CutPrefix(r.URL.Path, "/lfs/")
	s.mu.Lock()
	data, found := s.blobs[sum]
	d := s.drops[sum]
	var cut *drop
	if d != nil && d.times > 0 {
		cut = &drop{after: d.after}
		d.times--
	}
	if s.corrupt[sum] {
		data = append([]byte(nil), data...)
		data[len(data)/2] ^= 0xff
	}
	s.mu.Unlock()
	switch {
	case !ok || !found || r.Method != http.MethodGet:
		s.record("cdn", r, http.StatusNotFound)
		http.NotFound(w, r)
		return
	case r.Header.Get("Authorization") != "":
		// A signed URL with a second credential is refused, as S3 does.
		s.record("cdn", r, http.StatusBadRequest)
		http.Error(w, "Only one auth mechanism allowed", http.StatusBadRequest)
		return
	}
	s.record("cdn", r, http.StatusOK)
	serveBytes(w, r, data, cut)
}

// serveBytes answers a GET with data, or with its tail for "Range:
// bytes=N-"; with cut it stops at byte cut.after and drops the
// connection.
func serveBytes(w http.ResponseWriter, r *http.Request, data []byte, cut *drop) {
	start := 0
	if rg := r.Header.Get("Range"); rg != "" {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		if err != nil || !strings.HasSuffix(rg, "-") || n < 0 {
			http.Error(w, "bad range", http.StatusBadRequest)
			return
		}
		if n >= len(data) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start = n
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, len(data)-1, len(data)))
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)-start))
	w.Header().Set("Accept-Ranges", "bytes")
	if start > 0 {
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.WriteHeader(http.StatusOK)
	}
	if r.Method == http.MethodHead {
		return
	}
	end := len(data)
	if cut != nil && cut.after > int64(start) && cut.after < int64(end) {
		end = int(cut.after)
	} else {
		cut = nil
	}
	w.Write(data[start:end])
	if cut != nil {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler) // the connection drops mid-file
	}
}
