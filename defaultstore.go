package wrx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

// DefaultStoreOptions tunes DefaultStore. The zero value keeps stores in
// DefaultCacheDir with every fidelity.
type DefaultStoreOptions struct {
	// CacheDir holds the converted stores; "" means DefaultCacheDir().
	CacheDir string
	// Fidelities to convert to; nil means all of quant.AllFidelities().
	Fidelities []quant.Fidelity
	// Progress, if set, reports conversion progress.
	Progress func(done, total int)
}

// DefaultCacheDir is where DefaultStore keeps converted models: $WRX_CACHE_DIR
// if set, else the "wrx" directory in the user's cache directory.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("WRX_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("wrx: no cache directory (set WRX_CACHE_DIR): %w", err)
	}
	return filepath.Join(d, "wrx"), nil
}

// DefaultStore returns the URI of the default storage (a flat-file store,
// read with direct IO) holding the Hugging Face model in dir, converting it
// on first use. The store is keyed by the model's path, the size and
// modification time of its files, the fidelities and the store format
// (shardstore.FormatVersion), so an edited model, or a build that writes
// another format, converts again into a new store beside the old one.
// converted reports whether this call did the conversion.
//
// Only a store that is missing is converted. A store that is there but
// does not open, because it is damaged or a read fails, is an error that
// names it: DefaultStore never deletes or replaces a store on its own,
// since a passing IO error would cost a full conversion and a damaged
// store is worth looking at. Two processes converting the same model at
// once both succeed; the first to commit wins, and the other uses its
// store.
func DefaultStore(ctx context.Context, dir string, opts DefaultStoreOptions) (uri string, converted bool, err error) {
	cache := opts.CacheDir
	if cache == "" {
		if cache, err = DefaultCacheDir(); err != nil {
			return "", false, err
		}
	}
	id, err := modelID(dir, opts.Fidelities, shardstore.FormatVersion)
	if err != nil {
		return "", false, err
	}
	uri = "file:" + filepath.Join(cache, fmt.Sprintf("%s-f%d-%s", hubStoreName(dir), shardstore.FormatVersion, id))
	switch err := openable(ctx, uri); {
	case err == nil:
		return uri, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, &StoreError{Model: dir, URI: uri, Err: err}
	}
	m, err := bert.Load(dir, bert.LoadOptions{})
	if err != nil {
		return "", false, fmt.Errorf("wrx: %w", err)
	}
	tok, err := bert.LoadTokenizer(dir)
	if err != nil {
		return "", false, fmt.Errorf("wrx: %w", err)
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", false, fmt.Errorf("wrx: cache directory: %w", err)
	}
	err = shardstore.Convert(ctx, uri, m, tok, shardstore.ConvertOptions{
		Fidelities: opts.Fidelities, Progress: opts.Progress, Source: dir})
	if errors.Is(err, storage.ErrExists) {
		// Another process converted it meanwhile, or something that is
		// not a whole store is in the way.
		if err := openable(ctx, uri); err != nil {
			return "", false, &StoreError{Model: dir, URI: uri, Err: err}
		}
		return uri, false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("wrx: default store for %s: %w", dir, err)
	}
	return uri, true, nil
}

// StoreError is DefaultStore's error for a store that is there but does
// not open: damaged, or unreadable. DefaultStore leaves such a store as it
// is.
type StoreError struct {
	Model string // the model directory
	URI   string // the store
	Err   error  // why it does not open
}

// Error says which store does not open, for which model, and why.
func (e *StoreError) Error() string {
	return fmt.Sprintf("wrx: default store for %s: %s is there but does not open (left as it is): %v", e.Model, e.URI, e.Err)
}

// Unwrap returns why the store does not open.
func (e *StoreError) Unwrap() error { return e.Err }

// openable opens and closes the shard store at uri; the error of a
// missing store wraps fs.ErrNotExist.
func openable(ctx context.Context, uri string) error {
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		return err
	}
	return s.Close()
}

// modelID hashes what identifies a model directory's contents cheaply,
// with the fidelities and the store format it is converted to.
func modelID(dir string, fids []quant.Fidelity, format int) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("wrx: model %s: %w", dir, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%v\nformat %d\n", abs, fids, format)
	entries, err := os.ReadDir(abs)
	if err != nil {
		return "", fmt.Errorf("wrx: model directory: %w", err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			return "", fmt.Errorf("wrx: model %s: %w", dir, err)
		}
		fmt.Fprintf(h, "%s %d %d\n", e.Name(), info.Size(), info.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}
