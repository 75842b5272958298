package glue

import (
	"math"
	"sort"
)

// Accuracy is the fraction of predictions equal to the gold labels.
func Accuracy(pred, gold []int) float64 {
	if len(gold) == 0 {
		return 0
	}
	hit := 0
	for i := range gold {
		if pred[i] == gold[i] {
			hit++
		}
	}
	return float64(hit) / float64(len(gold))
}

// F1 is the F1 score of the positive class (label 1), as GLUE reports it for
// MRPC.
func F1(pred, gold []int) float64 {
	var tp, fp, fn float64
	for i := range gold {
		switch {
		case pred[i] == 1 && gold[i] == 1:
			tp++
		case pred[i] == 1:
			fp++
		case gold[i] == 1:
			fn++
		}
	}
	if tp == 0 {
		return 0
	}
	return 2 * tp / (2*tp + fp + fn)
}

// Pearson is the Pearson correlation of x and y.
func Pearson(x, y []float64) float64 {
	n := float64(len(x))
	if n < 2 {
		return math.NaN()
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= n
	my /= n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	return sxy / math.Sqrt(sxx*syy)
}

// Spearman is the Spearman rank correlation of x and y (ties get their
// average rank).
func Spearman(x, y []float64) float64 { return Pearson(ranks(x), ranks(y)) }

func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}
