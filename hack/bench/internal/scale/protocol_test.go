package scale

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	var ms []float64
	for i := 100; i >= 1; i-- {
		ms = append(ms, float64(i))
	}
	if s := Summarize(ms); s.P50 != 50 || s.P99 != 99 || s.Max != 100 {
		t.Errorf("Summarize(1..100) = %+v", s)
	}
	if s := Summarize([]float64{7}); s.P50 != 7 || s.P99 != 7 || s.Max != 7 {
		t.Errorf("Summarize(7) = %+v", s)
	}
	if s := Summarize(nil); !math.IsNaN(s.P50) || !math.IsNaN(s.Max) {
		t.Errorf("Summarize(nil) = %+v", s)
	}
	if ms[0] != 100 {
		t.Error("Summarize sorted its argument")
	}
}
