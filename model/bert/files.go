package bert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// ModelFiles chooses, from the file names of a model repository, the ones
// Load and LoadTokenizer read, as they prefer them: config.json; the
// weights (model.safetensors, else model.safetensors.index.json, whose
// shards ShardFiles names, else pytorch_model.bin); the tokenizer
// (vocab.txt, else tokenizer.json) and tokenizer_config.json when there is
// one. Files in subdirectories are not considered. It fails, naming what
// the repository has, when a needed file is missing.
func ModelFiles(repoFiles []string) ([]string, error) {
	has := map[string]bool{}
	for _, f := range repoFiles {
		has[f] = true
	}
	first := func(names ...string) string {
		for _, n := range names {
			if has[n] {
				return n
			}
		}
		return ""
	}
	listing := func() string {
		top := slices.DeleteFunc(append([]string(nil), repoFiles...), func(f string) bool { return strings.Contains(f, "/") })
		sort.Strings(top)
		if len(top) > 20 {
			top = append(top[:20], "...")
		}
		return strings.Join(top, ", ")
	}
	if !has[ConfigFile] {
		return nil, fmt.Errorf("bert: the model has no %s (it has: %s)", ConfigFile, listing())
	}
	weights := first(SafetensorsFile, SafetensorsIndexFile, PyTorchFile)
	if weights == "" {
		why := ""
		if has[PyTorchIndexFile] {
			why = "; a sharded PyTorch checkpoint is not supported"
		}
		return nil, fmt.Errorf("bert: the model has no weights this package reads (%s, %s or %s%s; it has: %s)",
			SafetensorsFile, SafetensorsIndexFile, PyTorchFile, why, listing())
	}
	tok := first(VocabFile, TokenizerJSONFile)
	if tok == "" {
		return nil, fmt.Errorf("bert: the model has no tokenizer (%s or %s; it has: %s)", VocabFile, TokenizerJSONFile, listing())
	}
	files := []string{ConfigFile, weights, tok}
	if has[TokenizerConfigFile] {
		files = append(files, TokenizerConfigFile)
	}
	return files, nil
}

// ShardFiles returns the shard files a model.safetensors.index.json names,
// sorted, each a plain name beside the index.
func ShardFiles(indexPath string) ([]string, error) {
	raw, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, fmt.Errorf("bert: read safetensors index: %w", err)
	}
	var idx safetensorsIndex
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("bert: safetensors index %s: %w: malformed JSON: %w", indexPath, ErrInvalidSafetensors, err)
	}
	set := map[string]bool{}
	for tensor, f := range idx.WeightMap {
		if f == "" || f != filepath.Base(f) || f == "." || f == ".." || strings.ContainsAny(f, `/\`) {
			return nil, fmt.Errorf("bert: safetensors index %s: %w: tensor %q maps to %q, which is not a file name beside the index",
				indexPath, ErrInvalidSafetensors, tensor, f)
		}
		set[f] = true
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("bert: safetensors index %s: %w: weight_map is missing or empty", indexPath, ErrInvalidSafetensors)
	}
	files := make([]string, 0, len(set))
	for f := range set {
		files = append(files, f)
	}
	sort.Strings(files)
	return files, nil
}

// CheckModelDir reports, without reading weights, whether dir holds every
// file Load and LoadTokenizer need (see ModelFiles), shards included.
func CheckModelDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("bert: model directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	files, err := ModelFiles(names)
	if err != nil {
		return fmt.Errorf("%w (in %s)", err, dir)
	}
	if slices.Contains(files, SafetensorsIndexFile) {
		shards, err := ShardFiles(filepath.Join(dir, SafetensorsIndexFile))
		if err != nil {
			return err
		}
		files = append(files, shards...)
	}
	for _, f := range files {
		// Stat follows symlinks: a hub snapshot's link to a missing blob
		// is a missing file.
		if _, err := os.Stat(filepath.Join(dir, f)); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("bert: model directory %s lacks %s", dir, f)
		} else if err != nil {
			return fmt.Errorf("bert: model directory: %w", err)
		}
	}
	return nil
}
