package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/profiletest"
	"github.com/wrxlabs/wrx/shardstore"
)

func TestProfileWords(t *testing.T) {
	uri := profiledTinyStore(t)
	data := profiletest.SST2(t)
	stdout, _, err := run(t, "", "profile", "words", "--store", uri, "--data", data, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var p plan.WordProfile
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	// Three sentences: [CLS] and [SEP] are in all three, and "movie" in two.
	s, err := shardstore.OpenURI(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok, err := s.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := tok.Encode("movie", "", 8)
	if err != nil {
		t.Fatal(err)
	}
	cls, movie, sep := enc.InputIDs[0], enc.InputIDs[1], enc.InputIDs[2]
	counts := map[int]int{}
	for _, w := range p.Top {
		counts[w.ID] = w.Requests
	}
	if p.Requests != 3 || counts[cls] != 3 || counts[sep] != 3 || counts[movie] != 2 {
		t.Errorf("requests %d; [CLS] in %d, [SEP] in %d, movie in %d; want 3, 3, 3, 2", p.Requests, counts[cls], counts[sep], counts[movie])
	}
	saved, err := profile.LoadWords(context.Background(), uri, s)
	if err != nil || saved == nil || saved.Requests != 3 || len(saved.Top) != len(p.Top) {
		t.Errorf("saved profile %+v, err %v; want the printed one", saved, err)
	}

	missing := filepath.Join(t.TempDir(), "none.tsv")
	if _, _, err := run(t, "", "profile", "words", "--store", uri, "--data", missing); err == nil || !strings.Contains(err.Error(), "none.tsv") {
		t.Errorf("a missing data file: err = %v, want it named", err)
	}
}

// TestProfileDeviceThreads checks that --threads reaches the backend through
// the registry, which refuses it for gorgonia before the store is opened.
func TestProfileDeviceThreads(t *testing.T) {
	_, _, err := run(t, "", "profile", "device", "--store", "mem:no-such-store", "--backend", "gorgonia", "--threads", "2")
	if err == nil || !strings.Contains(err.Error(), `"gorgonia"`) || !strings.Contains(err.Error(), "Config.Threads") {
		t.Errorf("profile device --backend gorgonia --threads 2: err = %v, want it to name gorgonia and Config.Threads", err)
	}
}
