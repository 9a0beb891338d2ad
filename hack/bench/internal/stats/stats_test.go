package stats

import (
	"math"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7}, 7},
	} {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
	in := []float64{3, 1, 2}
	Median(in)
	if in[0] != 3 {
		t.Error("Median sorted its argument")
	}
}

func TestPercentileNearestRank(t *testing.T) {
	sorted := make([]float64, 100)
	for i := range sorted {
		sorted[i] = float64(i + 1)
	}
	for _, c := range []struct{ p, want float64 }{{50, 50}, {99, 99}, {99.9, 100}, {100, 100}, {0.1, 1}} {
		if got := Percentile(sorted, c.p); got != c.want {
			t.Errorf("Percentile(1..100, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := Percentile([]float64{5}, 99); got != 5 {
		t.Errorf("one sample: %v", got)
	}
}

func TestRatios(t *testing.T) {
	got := Ratios([]float64{2, 3, 4}, []float64{1, 0, 2, 9})
	if len(got) != 3 || got[0] != 2 || !math.IsNaN(got[1]) || got[2] != 2 {
		t.Errorf("Ratios = %v", got)
	}
	if f := Finite(got); len(f) != 2 {
		t.Errorf("Finite = %v", f)
	}
}
