// Package profiletest makes shard stores with hand-made profiles for the
// tests of the packages that plan, run and bench from them. It is imported
// by tests only.
package profiletest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/internal/storetest"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/shardstore"
)

// Store converts the shared tiny-bert fixture (3 layers, 4 heads, 3
// labels) into a store at uri (file: or mem:) at 4 and 32 bits, and saves
// hand-made profiles beside it: shard (l, h) has dropped loss
// 0.1·(4l+h+1), so layer 0's heads are the least important, and the device
// profile is small, fixed, and of this host with the native backend as
// the streaming modes open it. A mem: store is deleted with the test.
func Store(t testing.TB, uri string) {
	t.Helper()
	dir := shared.Path(t, "fixtures", "tiny-bert")
	m, err := bert.Load(dir, bert.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := bert.LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	storetest.CleanupMem(t, uri)
	if err := shardstore.Convert(context.Background(), uri, m, tok, shardstore.ConvertOptions{Fidelities: []quant.Fidelity{4, 32}}); err != nil {
		t.Fatal(err)
	}
	saveProfiles(t, uri)
}

// Synth is Store for the synthetic model of storetest.Synth, which has
// tiny-bert's shape and random weights: for tests that need a profiled
// store but not trained weights, it runs without ../shared. It returns
// the model.
func Synth(t testing.TB, uri string) *bert.Model {
	t.Helper()
	m := storetest.Synth(t, uri, 4, 32)
	saveProfiles(t, uri)
	return m
}

// saveProfiles saves the hand-made profiles of Store beside the store at
// uri, which has tiny-bert's shape (3 layers of 4 heads) at 4 and 32 bits.
func saveProfiles(t testing.TB, uri string) {
	t.Helper()
	ctx := context.Background()
	s, err := shardstore.OpenURI(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	imp := &plan.ImportanceProfile{Task: "sst2", Metric: "kl", Samples: 1, Layers: 3, Heads: 4, Bits: []quant.Fidelity{4, 32}}
	for l := range 3 {
		imp.Shards = append(imp.Shards, nil)
		for h := range 4 {
			v := 0.1 * float64(4*l+h+1)
			imp.Shards[l] = append(imp.Shards[l], plan.ShardImportance{Loss: []float64{v / 10, 0}, Dropped: v})
		}
	}
	if err := profile.SaveImportance(ctx, uri, s, imp); err != nil {
		t.Fatal(err)
	}
	be, err := pipeline.OpenBackend("native", 0)
	if err != nil {
		t.Fatal(err)
	}
	host := profile.CurrentHost(be)
	us := time.Microsecond
	dev := &plan.DeviceProfile{
		Host: &host, Backend: "native", Threads: host.Threads, ReadBandwidth: 1e9, ReadLatency: 10 * us,
		Compute: plan.ComputeTable{
			SeqLens: []int{8, 64}, ShardCounts: []int{0, 4},
			Layer: [][]time.Duration{{10 * us, 50 * us}, {20 * us, 200 * us}},
			Embed: []time.Duration{5 * us, 10 * us}, Head: []time.Duration{5 * us, 10 * us},
		},
	}
	if err := profile.SaveDevice(ctx, uri, s, dev); err != nil {
		t.Fatal(err)
	}
}

// SST2 writes three labelled SST-2 rows as a dev.tsv in a temporary
// directory and returns its path.
func SST2(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dev.tsv")
	rows := "sentence\tlabel\na gorgeous , witty , seductive movie .\t1\nthe movie is bad .\t0\nunflinchingly bleak and desperate\t0\n"
	if err := os.WriteFile(path, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
