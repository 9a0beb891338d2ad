package report

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Table is one Markdown table of the report.
type Table struct {
	Title  string
	Header []string
	Rows   [][]string
	Notes  []string
}

// WriteMarkdown writes tables, then the targets, as Markdown.
func WriteMarkdown(w io.Writer, tables []Table, targets []Target) error {
	var b strings.Builder
	for _, t := range tables {
		fmt.Fprintf(&b, "#### %s\n\n", t.Title)
		b.WriteString("| " + strings.Join(t.Header, " | ") + " |\n")
		b.WriteString("|" + strings.Repeat(" --- |", len(t.Header)) + "\n")
		for _, row := range t.Rows {
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
		for _, n := range t.Notes {
			b.WriteString("\n" + n + "\n")
		}
		b.WriteString("\n")
	}
	if len(targets) > 0 {
		b.WriteString("#### Targets\n\n| target | measured | goal | met |\n| --- | --- | --- | --- |\n")
		for _, t := range targets {
			met := "**no**"
			if t.Met {
				met = "yes"
			}
			measured := Num(t.Value) + t.Unit
			if t.Detail != "" {
				measured += " (" + t.Detail + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %s %s%s | %s |\n", t.Name, measured, t.Op, Num(t.Threshold), t.Unit, met)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Num formats a figure with three significant digits at most (and no exponent below 10^9); NaN is "n/a".
func Num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "n/a"
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// Ratio formats a ratio as "1.23x".
func Ratio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", v)
}
