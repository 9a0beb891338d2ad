// Package stats has the few order statistics the benchmark reports: medians across rounds, percentiles of
// latency samples, and ratios between contenders measured in the same round.
package stats

import (
	"math"
	"slices"
)

// Median returns the median of xs (the mean of the two middle values for an even count), or NaN when xs
// is empty. xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return (s[mid-1] + s[mid]) / 2
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the nearest-rank method: the smallest
// sample such that at least p% of the samples are at or below it. It returns NaN for no samples.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	// The epsilon keeps 99.9% of 1000 at rank 999 despite floating-point error.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Ratios returns a[i]/b[i] for each round i present in both; a zero or NaN divisor gives NaN.
func Ratios(a, b []float64) []float64 {
	n := min(len(a), len(b))
	out := make([]float64, n)
	for i := range n {
		if b[i] == 0 || math.IsNaN(b[i]) {
			out[i] = math.NaN()
			continue
		}
		out[i] = a[i] / b[i]
	}
	return out
}

// Finite returns the elements of xs that are neither NaN nor infinite.
func Finite(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}
