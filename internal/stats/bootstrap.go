package stats

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Interval is a point estimate and a confidence interval around it.
type Interval struct {
	// Estimate is the statistic on the data as measured.
	Estimate float64 `json:"estimate"`
	// Lo and Hi bound the interval.
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
	// Level is the interval's nominal coverage, e.g. 0.95.
	Level float64 `json:"level"`
	// N is the number of pairs, Resamples the bootstrap resamples.
	N         int `json:"n"`
	Resamples int `json:"resamples"`
}

// Bootstrap defaults: [PairedBootstrap] with a zero Resamples, Level or
// Seed uses these.
const (
	DefaultResamples = 10000
	DefaultLevel     = 0.95
	DefaultSeed      = 1
)

// BootstrapOptions configures [PairedBootstrap]; the zero value means
// DefaultResamples resamples, a DefaultLevel interval and DefaultSeed.
type BootstrapOptions struct {
	Resamples int
	Level     float64
	Seed      uint64
}

// ErrNoPairs is returned by [PairedBootstrap] for empty or unequal inputs.
var ErrNoPairs = errors.New("stats: paired bootstrap needs two non-empty vectors of equal length")

// PairedBootstrap returns the percentile bootstrap interval of the mean
// difference mean(a[i] − b[i]) of paired observations, such as the
// per-request correctness (1 or 0) of two systems on the same requests:
// their accuracy difference. Pairs are resampled jointly, n of the n
// pairs with replacement, opts.Resamples times; the interval is the
// nearest-rank [Quantile]s (1−Level)/2 and (1+Level)/2 of the resampled
// means, so each bound is a mean some resample had. The random draws come
// from a PCG generator seeded with opts.Seed: the same inputs and options
// give the same interval. Identical vectors give [0, 0].
func PairedBootstrap(a, b []float64, opts BootstrapOptions) (Interval, error) {
	if len(a) == 0 || len(a) != len(b) {
		return Interval{}, fmt.Errorf("%w (got %d and %d)", ErrNoPairs, len(a), len(b))
	}
	if opts.Resamples <= 0 {
		opts.Resamples = DefaultResamples
	}
	if opts.Level == 0 {
		opts.Level = DefaultLevel
	}
	if !(opts.Level > 0 && opts.Level < 1) {
		return Interval{}, fmt.Errorf("stats: bootstrap level %v outside (0, 1)", opts.Level)
	}
	if opts.Seed == 0 {
		opts.Seed = DefaultSeed
	}
	n := len(a)
	d := make([]float64, n)
	var sum float64
	for i := range a {
		d[i] = a[i] - b[i]
		sum += d[i]
	}
	iv := Interval{Estimate: sum / float64(n), Level: opts.Level, N: n, Resamples: opts.Resamples}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
	means := make([]float64, opts.Resamples)
	for r := range means {
		var s float64
		for range n {
			s += d[rng.IntN(n)]
		}
		means[r] = s / float64(n)
	}
	alpha := (1 - opts.Level) / 2
	iv.Lo, iv.Hi = Quantile(means, alpha), Quantile(means, 1-alpha)
	return iv, nil
}
