package backend

import (
	"errors"
	"strings"
	"testing"
)

// fake is a Backend whose kernels do nothing; the registry tests only look
// at which instance and Config a factory produced.
type fake struct {
	name string
	cfg  Config
}

func (f *fake) Name() string                                         { return f.name }
func (*fake) MatMulT(out, a, w []float32, m, k, n int, acc bool)     {}
func (*fake) AddBias(x, bias []float32, rows, cols int)              {}
func (*fake) GELU(x []float32)                                       {}
func (*fake) Tanh(x []float32)                                       {}
func (*fake) ReLU(x []float32)                                       {}
func (*fake) Softmax(x []float32, rows, cols int)                    {}
func (*fake) LayerNorm(x, g, b []float32, rows, cols int, e float32) {}

func TestOpen(t *testing.T) {
	errNoThreads := errors.New("Config.Threads is not supported")
	Register("test-open", func(cfg Config) (Backend, error) {
		if cfg.Threads > 4 {
			return nil, errNoThreads
		}
		return &fake{name: "test-open", cfg: cfg}, nil
	})
	Register("test-open-nil", func(Config) (Backend, error) { return nil, nil })

	b, err := Open("test-open", Config{Threads: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.(*fake).cfg; got != (Config{Threads: 3}) {
		t.Errorf("factory got %+v, want Threads 3", got)
	}
	if b, err := Get("test-open"); err != nil || b.(*fake).cfg != (Config{}) {
		t.Errorf("Get = %v, %v; want the zero Config", b, err)
	}

	for _, c := range []struct {
		name string
		cfg  Config
		want []string // substrings of the error
		is   error
	}{
		{"no-such-backend", Config{}, []string{`"no-such-backend" is not registered`, "test-open"}, nil},
		{"test-open", Config{Threads: -1}, []string{`"test-open"`, "Config.Threads is -1"}, nil},
		{"test-open", Config{Threads: 5}, []string{`"test-open"`, "Config.Threads"}, errNoThreads},
		{"test-open-nil", Config{}, []string{`"test-open-nil"`, "no backend"}, nil},
	} {
		b, err := Open(c.name, c.cfg)
		if err == nil {
			t.Errorf("Open(%q, %+v) = %v, want an error", c.name, c.cfg, b)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open(%q, %+v) error %q does not mention %q", c.name, c.cfg, err, w)
			}
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("Open(%q, %+v) error %q does not wrap %q", c.name, c.cfg, err, c.is)
		}
	}
}

func TestRegisterPanics(t *testing.T) {
	ok := func(Config) (Backend, error) { return &fake{}, nil }
	Register("test-register-twice", ok)
	for _, c := range []struct {
		what    string
		name    string
		factory func(Config) (Backend, error)
	}{
		{"empty name", "", ok},
		{"nil factory", "test-register-nil", nil},
		{"duplicate", "test-register-twice", ok},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register with %s did not panic", c.what)
				}
			}()
			Register(c.name, c.factory)
		}()
	}
}
