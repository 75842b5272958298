package wrx

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wrxlabs/wrx/hub"
	"github.com/wrxlabs/wrx/model/bert"
)

// Pull downloads the files WRX needs of a Hugging Face hub model, id being
// "org/name" or "org/name@revision" (a branch, tag or commit; default
// main), into the hub's cache (see package hub), and returns the snapshot
// directory, which Open and DefaultStore read. Only config.json, the
// weights (safetensors, single or sharded, else pytorch_model.bin) and the
// tokenizer files are fetched; files already cached are not fetched
// again. The zero hub.Options read the environment as the Python tools
// do (HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_OFFLINE); offline, Pull
// returns the cached snapshot or an error wrapping hub.ErrNotCached.
func Pull(ctx context.Context, id string, opts hub.Options) (string, error) {
	ref, err := hub.ParseRef(id)
	if err != nil {
		return "", fmt.Errorf("wrx: %w", err)
	}
	c, err := hub.New(opts)
	if err != nil {
		return "", fmt.Errorf("wrx: %w", err)
	}
	if c.Offline() {
		dir, _, err := c.Cached(ref)
		if err != nil {
			return "", fmt.Errorf("wrx: %w", err)
		}
		if err := bert.CheckModelDir(dir); err != nil {
			return "", fmt.Errorf("wrx: %s: offline, and the cached snapshot is incomplete: %w: %w", ref, hub.ErrNotCached, err)
		}
		return dir, nil
	}
	info, err := c.Info(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("wrx: %w", err)
	}
	files, err := bert.ModelFiles(info.Files)
	if err != nil {
		return "", fmt.Errorf("wrx: %s: %w", ref, err)
	}
	dir, err := c.Download(ctx, ref, info.Commit, files)
	if err != nil {
		return "", fmt.Errorf("wrx: %w", err)
	}
	if slices.Contains(files, bert.SafetensorsIndexFile) {
		shards, err := bert.ShardFiles(filepath.Join(dir, bert.SafetensorsIndexFile))
		if err != nil {
			return "", fmt.Errorf("wrx: %s: %w", ref, err)
		}
		if dir, err = c.Download(ctx, ref, info.Commit, shards); err != nil {
			return "", fmt.Errorf("wrx: %w", err)
		}
	}
	return dir, nil
}

// ModelDir returns the local directory of a model: model itself when it
// is a directory; otherwise model is taken as a hub id (see Pull), whose
// snapshot is read from the hub cache when it is complete there, and
// pulled first when it is not (unless offline). A cached branch is not
// checked for newer commits: Pull updates it.
func ModelDir(ctx context.Context, model string, opts hub.Options) (string, error) {
	st, statErr := os.Stat(model)
	if statErr == nil {
		if !st.IsDir() {
			return "", fmt.Errorf("wrx: model %s is not a directory", model)
		}
		return model, nil
	}
	if !errors.Is(statErr, fs.ErrNotExist) || !hub.LooksLikeRef(model) {
		return "", fmt.Errorf("wrx: model: %w", statErr)
	}
	ref, err := hub.ParseRef(model)
	if err != nil {
		return "", fmt.Errorf("wrx: %w", err)
	}
	c, err := hub.New(opts)
	if err != nil {
		return "", fmt.Errorf("wrx: %w", err)
	}
	if dir, _, err := c.Cached(ref); err == nil && bert.CheckModelDir(dir) == nil {
		return dir, nil
	}
	dir, err := Pull(ctx, model, opts)
	if err != nil {
		return "", fmt.Errorf("%w (no directory %s either)", err, model)
	}
	return dir, nil
}

// hubStoreName names the default store of a hub snapshot
// (.../models--org--name/snapshots/COMMIT) "org--name-COMMIT12", and of
// any other directory its base name.
func hubStoreName(dir string) string {
	clean := filepath.Clean(dir)
	commit, snaps, repo := filepath.Base(clean), filepath.Base(filepath.Dir(clean)), filepath.Base(filepath.Dir(filepath.Dir(clean)))
	if snaps == "snapshots" && strings.HasPrefix(repo, "models--") && len(commit) == 40 {
		return strings.TrimPrefix(repo, "models--") + "-" + commit[:12]
	}
	return filepath.Base(clean)
}
