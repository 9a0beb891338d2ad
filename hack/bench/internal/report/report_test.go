package report

import (
	"math"
	"strings"
	"testing"
)

func TestRoundRatioPairsRounds(t *testing.T) {
	r := New("test")
	a := Key{Scenario: "s", Metric: "rps", Contender: "a"}
	b := Key{Scenario: "s", Metric: "rps", Contender: "b"}
	// Machine load halves everything in round 2: per-round ratios stay 2.
	for _, v := range [][2]float64{{200, 100}, {100, 50}, {210, 100}} {
		r.Add(a, "req/s", v[0])
		r.Add(b, "req/s", v[1])
	}
	if got := r.RoundRatio(a, b); got != 2 {
		t.Errorf("RoundRatio = %v, want 2", got)
	}
	if got := r.Median(a); got != 200 {
		t.Errorf("Median = %v", got)
	}
	if !math.IsNaN(r.RoundRatio(a, Key{Contender: "none"})) {
		t.Error("ratio to a missing series is not NaN")
	}
}

func TestTargetEvaluate(t *testing.T) {
	for _, c := range []struct {
		t    Target
		want bool
	}{
		{Target{Value: 1.1, Op: ">=", Threshold: 1}, true},
		{Target{Value: 0.9, Op: ">=", Threshold: 1}, false},
		{Target{Value: 14, Op: "<=", Threshold: 15}, true},
		{Target{Value: math.NaN(), Op: "<=", Threshold: 15}, false},
	} {
		c.t.Evaluate()
		if c.t.Met != c.want {
			t.Errorf("%+v: met %v, want %v", c.t, c.t.Met, c.want)
		}
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b strings.Builder
	tables := []Table{{Title: "T", Header: []string{"a", "b"}, Rows: [][]string{{"1", "2"}}, Notes: []string{"note"}}}
	targets := []Target{{Name: "x", Value: 0.5, Op: ">=", Threshold: 1, Unit: "x"}}
	if err := WriteMarkdown(&b, tables, targets); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#### T", "| a | b |", "| --- | --- |", "| 1 | 2 |", "note", "| x | 0.5x | >= 1.00x | **no** |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, b.String())
		}
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{12345.6: "12346", 12.34: "12.3", 1.234: "1.23", 0.01234: "0.0123", math.NaN(): "n/a"} {
		if got := Num(v); got != want {
			t.Errorf("Num(%v) = %q, want %q", v, got, want)
		}
	}
}
