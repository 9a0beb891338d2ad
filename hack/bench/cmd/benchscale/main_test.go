package main

import (
	"bufio"
	"strings"
	"testing"
)

func TestInts(t *testing.T) {
	got, err := ints("100, 1000,10000")
	if err != nil || len(got) != 3 || got[2] != 10000 {
		t.Errorf("ints = %v, %v", got, err)
	}
	for _, bad := range []string{"1000,100", "x", "0", "100,100"} {
		if _, err := ints(bad); err == nil {
			t.Errorf("ints(%q) accepted", bad)
		}
	}
	if got, err := ints(""); err != nil || len(got) != 0 {
		t.Errorf(`ints("") = %v, %v`, got, err)
	}
}

func TestParseFigures(t *testing.T) {
	page := `# HELP process_resident_memory_bytes Resident memory size in bytes.
process_resident_memory_bytes 1.2345e+08
process_cpu_seconds_total 12.5
go_goroutines 2265
go_memstats_heap_inuse_bytes 5e+07
go_memstats_stack_inuse_bytes 3e+06
egress_policy_service_streams 5000
egress_policy_service_requests_total{result="streamed"} 5000
`
	f, err := parseFigures(bufio.NewScanner(strings.NewReader(page)))
	if err != nil || f.RSS != 1.2345e8 || f.CPU != 12.5 || f.Goroutines != 2265 || f.Heap != 5e7 || f.Stacks != 3e6 || f.Streams != 5000 {
		t.Errorf("parseFigures = %+v, %v", f, err)
	}
}
