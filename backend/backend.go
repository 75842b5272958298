// Package backend defines the tensor kernels WRX needs to run a BERT-family
// encoder, and a registry of named implementations.
//
// All matrices are dense, row-major float32 slices. Weight matrices follow the
// Hugging Face convention: a linear layer with K inputs and N outputs stores
// its weight as N rows of K values, so every product is out = act · Wᵀ.
//
// Implementations register themselves from an init function, the way
// database/sql drivers do, and callers open them by name with a Config, so
// they can set options without importing the implementation:
//
//	import _ "github.com/wrxlabs/wrx/backend/native"
//	b, err := backend.Open("native", backend.Config{Threads: 2})
package backend

import (
	"fmt"
	"sort"
	"sync"
)

// Backend is the set of kernels the encoder runs on. Implementations must be
// safe for concurrent use by multiple goroutines. Kernels never allocate the
// caller's outputs and report shape mistakes by panicking, as slice indexing
// does: shapes are checked once, when a model is loaded.
//
// Aliasing: out must not overlap a or w in MatMulT. The in-place kernels
// (AddBias, GELU, Tanh, ReLU, Softmax, LayerNorm) read and write x.
type Backend interface {
	// Name is the name the backend is registered under.
	Name() string
	// MatMulT computes out[m×n] = a[m×k] · w[n×k]ᵀ, or adds that product to
	// out when accumulate is true.
	MatMulT(out, a, w []float32, m, k, n int, accumulate bool)
	// AddBias adds bias[cols] to every row of x[rows×cols].
	AddBias(x, bias []float32, rows, cols int)
	// GELU applies the exact (erf) GELU to every element of x.
	GELU(x []float32)
	// Tanh applies tanh to every element of x.
	Tanh(x []float32)
	// ReLU applies max(0, v) to every element of x.
	ReLU(x []float32)
	// Softmax replaces every row of x[rows×cols] by its softmax.
	Softmax(x []float32, rows, cols int)
	// LayerNorm normalises every row of x[rows×cols] to zero mean and unit
	// variance (biased variance, eps added), then scales by gamma and shifts
	// by beta.
	LayerNorm(x, gamma, beta []float32, rows, cols int, eps float32)
}

// StridedMultiplier is implemented by backends that multiply views of
// wider matrices without copying them, such as one attention head's
// columns of a fused Q, K, V projection.
type StridedMultiplier interface {
	// MatMulTStrided is MatMulT with row i of a at a[i·lda:], row j of w
	// at w[j·ldw:] and row i of out at out[i·ldo:] (each stride at least
	// the row's length). Elements between the rows of out are left alone.
	MatMulTStrided(out []float32, ldo int, a []float32, lda int, w []float32, ldw int, m, k, n int, accumulate bool)
}

// Config holds the options any backend can be opened with. The zero value
// asks for the backend's defaults. A backend that cannot honour a non-zero
// field makes Open fail with an error naming the backend and the field,
// rather than ignoring it.
type Config struct {
	// Threads bounds how many goroutines one kernel call may use. 0 means
	// the backend's default: runtime.GOMAXPROCS(0) for native. Negative
	// values are an error.
	Threads int
}

var (
	mu       sync.RWMutex
	registry = map[string]func(Config) (Backend, error){}
)

// Register makes a backend available under name. Open calls factory with the
// caller's Config, already checked for values that are invalid for every
// backend (negative Threads); factory returns an error for a Config it cannot
// honour. Register panics if name is empty, factory is nil or name is already
// registered, since that is a programming error in an init function.
func Register(name string, factory func(Config) (Backend, error)) {
	mu.Lock()
	defer mu.Unlock()
	if name == "" || factory == nil {
		panic("backend: Register with empty name or nil factory")
	}
	if _, dup := registry[name]; dup {
		panic("backend: Register called twice for " + name)
	}
	registry[name] = factory
}

// Open returns a new instance of the backend registered under name,
// configured by cfg.
func Open(name string, cfg Config) (Backend, error) {
	mu.RLock()
	f, ok := registry[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("backend %q is not registered (have %v)", name, Names())
	}
	if cfg.Threads < 0 {
		return nil, fmt.Errorf("backend %q: Config.Threads is %d; want 0 (the backend's default) or more", name, cfg.Threads)
	}
	b, err := f(cfg)
	if err != nil {
		return nil, fmt.Errorf("backend %q: open: %w", name, err)
	}
	if b == nil {
		return nil, fmt.Errorf("backend %q: open: factory returned no backend and no error", name)
	}
	return b, nil
}

// Get returns a new instance of the backend registered under name with its
// default configuration: it is Open(name, Config{}).
func Get(name string) (Backend, error) { return Open(name, Config{}) }

// Names lists the registered backends in sorted order.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
