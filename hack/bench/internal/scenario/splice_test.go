package scenario

import "testing"

func TestParseStraceSummary(t *testing.T) {
	text := `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 61.43    0.012345          12      1024           splice
 20.00    0.004000           5       800       200 read
  1.00    0.000100           1        12           epoll_pwait
------ ----------- ----------- --------- --------- ----------------
100.00    0.020000           8      1836       200 total
`
	got := parseStraceSummary(text)
	if got["splice"] != 1024 || got["read"] != 800 || got["epoll_pwait"] != 12 || len(got) != 3 {
		t.Errorf("parsed %v", got)
	}
}
