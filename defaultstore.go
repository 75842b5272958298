package wrx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
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
// on first use. The store is keyed by the model's path and the size and
// modification time of its files, so an edited model is converted again.
// converted reports whether this call did the conversion.
func DefaultStore(ctx context.Context, dir string, opts DefaultStoreOptions) (uri string, converted bool, err error) {
	cache := opts.CacheDir
	if cache == "" {
		if cache, err = DefaultCacheDir(); err != nil {
			return "", false, err
		}
	}
	id, err := modelID(dir, opts.Fidelities)
	if err != nil {
		return "", false, err
	}
	uri = "file:" + filepath.Join(cache, hubStoreName(dir)+"-"+id)
	if s, err := shardstore.OpenURI(ctx, uri); err == nil {
		s.Close()
		return uri, false, nil
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
		Fidelities: opts.Fidelities, Progress: opts.Progress, Source: dir, Overwrite: true})
	if err != nil {
		return "", false, fmt.Errorf("wrx: default store for %s: %w", dir, err)
	}
	return uri, true, nil
}

// modelID hashes what identifies a model directory's contents cheaply.
func modelID(dir string, fids []quant.Fidelity) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("wrx: model %s: %w", dir, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%v\n", abs, fids)
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
