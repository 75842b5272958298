package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wrxlabs/wrx/storage"
)

func TestURIs(t *testing.T) {
	ctx := context.Background()
	name := memURI(t)
	w, err := storage.Create(ctx, name, storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Put(ctx, "k", []byte("v"))
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// "mem://NAME" is the same store as "mem:NAME".
	s, err := storage.Open(ctx, "mem://"+strings.TrimPrefix(name, "mem:"))
	if err != nil {
		t.Fatalf("Open with //: %v", err)
	}
	s.Close()

	for _, tc := range []struct {
		uri  string
		want string // in the error
	}{
		{"", "not a store URI"},
		{"/plain/path", "not a store URI"},
		{"C:/windows/path", "not a store URI"},
		{"nosuch:/x", `no driver for scheme "nosuch"`},
		{"mem:", "empty location"},
		{"mem://", "empty location"},
	} {
		_, err := storage.Open(ctx, tc.uri)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) err = %v, want one containing %q", tc.uri, err, tc.want)
		}
		_, err = storage.Create(ctx, tc.uri, storage.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Create(%q) err = %v, want one containing %q", tc.uri, err, tc.want)
		}
	}
}

type nopDriver struct{}

func (nopDriver) Open(context.Context, string, storage.OpenOptions) (storage.Store, error) {
	return nil, errors.New("nop")
}
func (nopDriver) Create(context.Context, string, storage.CreateOptions) (storage.Writer, error) {
	return nil, errors.New("nop")
}

func TestRegisterPanicsOnMisuse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scheme string
		d      storage.Driver
	}{
		{"duplicate", "mem", nopDriver{}},
		{"empty scheme", "", nopDriver{}},
		{"bad scheme", "Has Space", nopDriver{}},
		{"nil driver", "nildriver", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", tc.scheme)
				}
			}()
			storage.Register(tc.scheme, tc.d)
		})
	}
}

func TestAlignedBuffer(t *testing.T) {
	for _, n := range []int{0, 1, 100, 4095, 4096, 4097, 1 << 20, 1<<20 + 1} {
		b := storage.AlignedBuffer(n)
		wantCap := (n + 4095) / 4096 * 4096
		if len(b) != n || cap(b) != wantCap || !storage.IsAligned(b) {
			t.Errorf("AlignedBuffer(%d): len %d cap %d aligned %v; want len %d cap %d aligned", n, len(b), cap(b), storage.IsAligned(b), n, wantCap)
		}
		if n > 0 && storage.IsAligned(b[1:]) {
			t.Errorf("IsAligned(b[1:]) = true for AlignedBuffer(%d)", n)
		}
	}
	for _, tc := range []struct{ in, want int64 }{{0, 0}, {1, 4096}, {4096, 4096}, {4097, 8192}} {
		if got := storage.AlignUp(tc.in); got != tc.want {
			t.Errorf("AlignUp(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestCheckKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"L03/H07/attn/q4", true},
		{"emb/rows", true},
		{"ключ", true},
		{strings.Repeat("a", storage.MaxKeyLen), true},
		{"", false},
		{strings.Repeat("a", storage.MaxKeyLen+1), false},
		{"a\x00", false},
		{"\xc3\x28", false},
	} {
		if err := storage.CheckKey(tc.key); (err == nil) != tc.ok {
			t.Errorf("CheckKey(%.30q) = %v, want ok=%v", tc.key, err, tc.ok)
		}
	}
}

func TestCheckSidecarName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"profile.json", true},
		{"device-pi5_v2.json", true},
		{"0", true},
		{strings.Repeat("a", storage.MaxSidecarNameLen), true},
		{"", false},
		{strings.Repeat("a", storage.MaxSidecarNameLen+1), false},
		{".", false},
		{"..", false},
		{".profile.json.tmp-1", false},
		{"-x", false},
		{"Profile.json", false},
		{"a/b", false},
		{`a\b`, false},
		{"a b", false},
		{"a\x00", false},
		{"é", false},
	} {
		if err := storage.CheckSidecarName(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckSidecarName(%.20q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestSidecarsUnsupported: a driver without sidecars says so.
func TestSidecarsUnsupported(t *testing.T) {
	ctx := context.Background()
	uri := "test-nosidecars:" + strings.TrimPrefix(memURI(t), "mem:")
	if err := storage.WriteSidecar(ctx, uri, "profile.json", nil); !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), uri) {
		t.Errorf("WriteSidecar: err = %v, want errors.ErrUnsupported naming %s", err, uri)
	}
	if _, err := storage.ReadSidecar(ctx, uri, "profile.json"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("ReadSidecar: err = %v, want errors.ErrUnsupported", err)
	}
	if _, err := storage.SidecarNames(ctx, uri); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SidecarNames: err = %v, want errors.ErrUnsupported", err)
	}
	if err := storage.WriteSidecar(ctx, "nosuch:/x", "profile.json", nil); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("WriteSidecar with an unknown scheme: err = %v", err)
	}
}
