package quant

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/wrxlabs/wrx/internal/shared"
)

// This file holds a minimal safetensors reader for the measurements in
// report_test.go, so this package's tests do not depend on model/bert.

type tensor struct {
	shape []int
	data  []float32
}

// readSafetensors reads every F32 tensor of a .safetensors file.
func readSafetensors(path string) (map[string]tensor, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) < 8 {
		return nil, fmt.Errorf("%s: too short", path)
	}
	hl := binary.LittleEndian.Uint64(raw)
	if hl > uint64(len(raw)-8) {
		return nil, fmt.Errorf("%s: header length %d exceeds file", path, hl)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+hl], &hdr); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	data := raw[8+hl:]
	out := map[string]tensor{}
	for name, msg := range hdr {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			Dtype       string `json:"dtype"`
			Shape       []int  `json:"shape"`
			DataOffsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %w", path, name, err)
		}
		if e.Dtype != "F32" {
			continue
		}
		a, b := e.DataOffsets[0], e.DataOffsets[1]
		n := 1
		for _, d := range e.Shape {
			n *= d
		}
		if a < 0 || b > len(data) || b-a != 4*n {
			return nil, fmt.Errorf("%s: tensor %s: offsets %v do not fit shape %v", path, name, e.DataOffsets, e.Shape)
		}
		t := tensor{shape: e.Shape, data: make([]float32, n)}
		for i := range t.data {
			t.data[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[a+4*i:]))
		}
		out[name] = t
	}
	return out, nil
}

// shardMatrix is one weight matrix of one head shard, cut the way DESIGN.md
// defines shards.
type shardMatrix struct {
	name string
	n, k int
	w    []float32
}

// loadShardMatrices returns the 6 matrices of every head shard of
// wrx-sst2-small (6 layers × 12 heads × 6 = 432), skipping the test when
// the shared model is absent.
func loadShardMatrices(tb testing.TB) []shardMatrix {
	tb.Helper()
	dir := shared.Path(tb, "models", "wrx-sst2-small")
	ts, err := readSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		tb.Fatal(err)
	}
	var cfg struct {
		Hidden       int `json:"hidden_size"`
		Layers       int `json:"num_hidden_layers"`
		Heads        int `json:"num_attention_heads"`
		Intermediate int `json:"intermediate_size"`
	}
	cj, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(cj, &cfg); err != nil {
		tb.Fatal(err)
	}
	get := func(name string, n, k int) []float32 {
		t, ok := ts[name]
		if !ok || len(t.shape) != 2 || t.shape[0] != n || t.shape[1] != k {
			tb.Fatalf("tensor %s: missing or shape %v, want [%d %d]", name, t.shape, n, k)
		}
		return t.data
	}
	rows := func(w []float32, k, r0, r1 int) []float32 { return w[r0*k : r1*k] }
	cols := func(w []float32, n, k, c0, c1 int) []float32 {
		out := make([]float32, 0, n*(c1-c0))
		for r := range n {
			out = append(out, w[r*k+c0:r*k+c1]...)
		}
		return out
	}
	hd, fs := cfg.Hidden/cfg.Heads, cfg.Intermediate/cfg.Heads
	var out []shardMatrix
	for l := range cfg.Layers {
		p := fmt.Sprintf("bert.encoder.layer.%d.", l)
		q := get(p+"attention.self.query.weight", cfg.Hidden, cfg.Hidden)
		k := get(p+"attention.self.key.weight", cfg.Hidden, cfg.Hidden)
		v := get(p+"attention.self.value.weight", cfg.Hidden, cfg.Hidden)
		o := get(p+"attention.output.dense.weight", cfg.Hidden, cfg.Hidden)
		up := get(p+"intermediate.dense.weight", cfg.Intermediate, cfg.Hidden)
		down := get(p+"output.dense.weight", cfg.Hidden, cfg.Intermediate)
		for h := range cfg.Heads {
			name := func(s string) string { return fmt.Sprintf("L%d.H%d.%s", l, h, s) }
			out = append(out,
				shardMatrix{name("query"), hd, cfg.Hidden, rows(q, cfg.Hidden, h*hd, (h+1)*hd)},
				shardMatrix{name("key"), hd, cfg.Hidden, rows(k, cfg.Hidden, h*hd, (h+1)*hd)},
				shardMatrix{name("value"), hd, cfg.Hidden, rows(v, cfg.Hidden, h*hd, (h+1)*hd)},
				shardMatrix{name("output"), cfg.Hidden, hd, cols(o, cfg.Hidden, cfg.Hidden, h*hd, (h+1)*hd)},
				shardMatrix{name("up"), fs, cfg.Hidden, rows(up, cfg.Hidden, h*fs, (h+1)*fs)},
				shardMatrix{name("down"), cfg.Hidden, fs, cols(down, cfg.Hidden, cfg.Intermediate, h*fs, (h+1)*fs)},
			)
		}
	}
	if len(out) == 0 {
		tb.Fatal("model has no layers")
	}
	return out
}
