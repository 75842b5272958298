package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/wrxlabs/wrx/internal/stats"
)

// comparison is what --compare prints: the accuracies of two runs on the
// same sentences and the paired bootstrap interval of their difference.
type comparison struct {
	A     string         `json:"a"`
	B     string         `json:"b"`
	AccA  float64        `json:"acc_a"`
	AccB  float64        `json:"acc_b"`
	Agree float64        `json:"agree"`
	Diff  stats.Interval `json:"diff_a_minus_b"`
}

// compare reads two --preds files of the same sentences and prints their
// accuracies, how often their labels agree, and the 95 % paired bootstrap
// interval of accuracy(a) − accuracy(b) (internal/stats, 10 000
// resamples, seed 1), in points.
func compare(a, b string, jsonOut bool, stdout io.Writer) error {
	ra, err := readPreds(a)
	if err != nil {
		return err
	}
	rb, err := readPreds(b)
	if err != nil {
		return err
	}
	if len(ra) != len(rb) {
		return fmt.Errorf("--compare: %s has %d sentences, %s %d", a, len(ra), b, len(rb))
	}
	ca, cb := make([]float64, len(ra)), make([]float64, len(rb))
	agree := 0
	for i := range ra {
		if ra[i].Line != rb[i].Line {
			return fmt.Errorf("--compare: sentence %d is dev line %d in %s, %d in %s", i, ra[i].Line, a, rb[i].Line, b)
		}
		if ra[i].Pred == ra[i].Gold {
			ca[i] = 1
		}
		if rb[i].Pred == rb[i].Gold {
			cb[i] = 1
		}
		if ra[i].Pred == rb[i].Pred {
			agree++
		}
	}
	iv, err := stats.PairedBootstrap(ca, cb, stats.BootstrapOptions{Resamples: 10000, Seed: 1, Level: 0.95})
	if err != nil {
		return fmt.Errorf("--compare: %w", err)
	}
	c := comparison{A: a, B: b, AccA: mean(ca), AccB: mean(cb), Agree: float64(agree) / float64(len(ra)), Diff: iv}
	if jsonOut {
		return json.NewEncoder(stdout).Encode(c)
	}
	_, err = fmt.Fprintf(stdout, "%d sentences: accuracy %.4f (%s) vs %.4f (%s), labels agree on %.2f %%\n"+
		"difference %+.2f points, 95 %% paired bootstrap interval [%+.2f, %+.2f] (%d resamples)\n",
		len(ra), c.AccA, a, c.AccB, b, 100*c.Agree, 100*iv.Estimate, 100*iv.Lo, 100*iv.Hi, iv.Resamples)
	return err
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// readPreds reads a --preds file.
func readPreds(path string) ([]record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--compare: %w", err)
	}
	defer f.Close()
	var recs []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("--compare: %s line %d: %w", path, n, err)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--compare: %s: %w", path, err)
	}
	return recs, nil
}
