package storagetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wrxlabs/wrx/storage"
)

// The suite is checked against deliberately broken stores: each is the
// mem: store with one plausible mistake, registered under the scheme
// "broken" with the location "KIND/NAME". A suite that passed one of them
// would not be testing what it claims to.

var brokenKinds = map[string]struct{ only, wantMsg string }{
	"reads past len(dst)":               {"ReadAtRanges", "outside the bytes it may touch"},
	"short read without EOF":            {"ReadAtRanges", "want one wrapping io.EOF"},
	"keys ignore the prefix":            {"Keys", "Keys(\"L0\") mismatch"},
	"visible before commit":             {"InvisibleBeforeCommit", "Open before Commit"},
	"put keeps the caller's slice":      {"PutCopies", "reused its buffer"},
	"reads after close":                 {"Closed", "ErrClosed"},
	"ignores cancellation":              {"Cancelled", "Canceled"},
	"overwrites without the option":     {"ExistsAndOverwrite", "ErrExists"},
	"errors do not name the key":        {"NotFound", "naming"},
	"not found is not ErrNotFound":      {"NotFound", "want ErrNotFound"},
	"concurrent reads share a position": {"ConcurrentReads", "ReadAt(\"L0"},
}

func init() { storage.Register("broken", brokenDriver{}) }

type brokenDriver struct{}

func splitLoc(loc string) (kind, name string) {
	kind, name, _ = strings.Cut(loc, "/")
	return kind, name
}

func (brokenDriver) Open(ctx context.Context, loc string, opts storage.OpenOptions) (storage.Store, error) {
	kind, name := splitLoc(loc)
	s, err := storage.OpenWith(ctx, "mem:"+name, opts)
	if err != nil {
		return nil, err
	}
	return &brokenStore{Store: s, kind: kind}, nil
}

func (brokenDriver) Create(ctx context.Context, loc string, opts storage.CreateOptions) (storage.Writer, error) {
	kind, name := splitLoc(loc)
	if kind == "overwrites without the option" {
		opts.Overwrite = true
	}
	w, err := storage.Create(ctx, "mem:"+name, opts)
	if err != nil {
		return nil, err
	}
	return &brokenWriter{Writer: w, kind: kind, uri: "mem:" + name}, nil
}

// The broken stores keep sidecars as the mem: store does, so that the
// suite's sidecar tests run for them too.

func (brokenDriver) WriteSidecar(ctx context.Context, loc, name string, data []byte) error {
	_, mem := splitLoc(loc)
	return storage.WriteSidecar(ctx, "mem:"+mem, name, data)
}

func (brokenDriver) ReadSidecar(ctx context.Context, loc, name string) ([]byte, error) {
	_, mem := splitLoc(loc)
	return storage.ReadSidecar(ctx, "mem:"+mem, name)
}

func (brokenDriver) SidecarNames(ctx context.Context, loc string) ([]string, error) {
	_, mem := splitLoc(loc)
	return storage.SidecarNames(ctx, "mem:"+mem)
}

type brokenStore struct {
	storage.Store
	kind   string
	closed atomic.Bool
	pos    atomic.Int64
}

func (s *brokenStore) Close() error {
	s.closed.Store(true)
	if s.kind == "reads after close" {
		return nil
	}
	return s.Store.Close()
}

func (s *brokenStore) Size(ctx context.Context, key string) (int64, error) {
	n, err := s.Store.Size(ctx, key)
	return n, s.mangle(err)
}

func (s *brokenStore) mangle(err error) error {
	switch {
	case err == nil:
		return nil
	case s.kind == "errors do not name the key":
		return fmt.Errorf("failed: %w", errors.Unwrap(err))
	case s.kind == "not found is not ErrNotFound" && errors.Is(err, storage.ErrNotFound):
		return errors.New(err.Error())
	}
	return err
}

func (s *brokenStore) ReadAt(ctx context.Context, key string, dst []byte, off int64) (int, error) {
	switch s.kind {
	case "ignores cancellation":
		ctx = context.Background()
	case "reads past len(dst)":
		if cap(dst) > len(dst) {
			defer func() { dst[:cap(dst)][cap(dst)-1] ^= 0x5A }()
		}
	case "concurrent reads share a position":
		// Seeks, then reads, as a single-threaded file reader would:
		// another goroutine's seek in between moves this read.
		s.pos.Store(off)
		runtime.Gosched()
		n, err := s.Store.ReadAt(ctx, key, dst, s.pos.Load())
		return n, s.mangle(err)
	}
	n, err := s.Store.ReadAt(ctx, key, dst, off)
	if s.kind == "short read without EOF" && errors.Is(err, errEOF) {
		return n, nil
	}
	return n, s.mangle(err)
}

// errEOF is io.EOF, under a name that keeps the broken kinds readable.
var errEOF = func() error {
	_, err := storage.CheckRange("k", 0, 0, 1)
	return errors.Unwrap(err)
}()

func (s *brokenStore) Keys(ctx context.Context, prefix string) ([]string, error) {
	if s.kind == "keys ignore the prefix" {
		prefix = ""
	}
	return s.Store.Keys(ctx, prefix)
}

type brokenWriter struct {
	storage.Writer
	kind string
	uri  string
	put  map[string][]byte
}

func (w *brokenWriter) Put(ctx context.Context, key string, data []byte) error {
	switch w.kind {
	case "visible before commit":
		// Commits a store of everything put so far after every Put.
		if w.put == nil {
			w.put = map[string][]byte{}
		}
		w.put[key] = append([]byte(nil), data...)
		cw, err := storage.Create(ctx, w.uri, storage.CreateOptions{Overwrite: true})
		if err != nil {
			return err
		}
		for k, v := range w.put {
			if err := cw.Put(ctx, k, v); err != nil {
				return err
			}
		}
		if err := cw.Commit(ctx); err != nil {
			return err
		}
	case "put keeps the caller's slice":
		// Keeps data and writes it at Commit.
		if w.put == nil {
			w.put = map[string][]byte{}
		}
		if _, dup := w.put[key]; !dup {
			w.put[key] = data
			return nil
		}
	}
	return w.Writer.Put(ctx, key, data)
}

func (w *brokenWriter) Commit(ctx context.Context) error {
	if w.kind == "put keeps the caller's slice" {
		for k, v := range w.put {
			if err := w.Writer.Put(ctx, k, v); err != nil {
				return err
			}
		}
	}
	return w.Writer.Commit(ctx)
}

// TestBrokenStoresFail runs the suite on every broken store, each in a
// child process (TestBrokenStoreChild), and checks that the suite fails
// there, in the subtest meant to catch the mistake, with the message it
// should give.
func TestBrokenStoresFail(t *testing.T) {
	for kind, want := range brokenKinds {
		t.Run(kind, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestBrokenStoreChild$/^"+want.only+"$", "-test.v")
			cmd.Env = append(os.Environ(), "STORAGETEST_BROKEN="+kind)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store that %s", kind)
			}
			if !strings.Contains(string(out), "--- FAIL: TestBrokenStoreChild/"+want.only) {
				t.Fatalf("the suite failed, but not in %s", want.only)
			}
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, want.wantMsg) && strings.Contains(line, ".go:") {
					t.Logf("caught: %s", strings.TrimSpace(line))
					return
				}
			}
			t.Errorf("no failure message contains %q", want.wantMsg)
		})
	}
}

var childStores atomic.Int64

// TestBrokenStoreChild is the child process of TestBrokenStoresFail: it
// runs the suite on the broken store STORAGETEST_BROKEN names. Run by
// go test, without that variable, it does nothing.
func TestBrokenStoreChild(t *testing.T) {
	kind := os.Getenv("STORAGETEST_BROKEN")
	if kind == "" {
		return
	}
	Run(t, func(t *testing.T) string {
		name := fmt.Sprintf("broken-%d", childStores.Add(1))
		t.Cleanup(func() { storage.DeleteMem(name) })
		return "broken:" + kind + "/" + name
	})
}

// TestMemStorePasses: the suite passes the mem: store the broken ones are
// made from, through the broken driver with no mistake, so every failure
// above is the mistake's.
func TestMemStorePasses(t *testing.T) {
	Run(t, func(t *testing.T) string {
		name := fmt.Sprintf("sound-%d", childStores.Add(1))
		t.Cleanup(func() { storage.DeleteMem(name) })
		return "broken:none/" + name
	})
}
