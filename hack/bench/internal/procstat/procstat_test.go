package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParseStatNameWithParentheses(t *testing.T) {
	line := "4242 (nginx: (worker) x) S 4241 4241 4241 0 -1 4194624 100 0 0 0 250 75 0 0 20 0 1 0 123456 10000000 512 18446744073709551615"
	s, err := parseStat(4242, []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if s.ppid != 4241 || s.utime != 250 || s.stime != 75 || s.startTicks != 123456 || s.rssPages != 512 {
		t.Errorf("parsed %+v", s)
	}
	if s.commandName != "nginx: (worker) x" {
		t.Errorf("name %q", s.commandName)
	}
	if got := ticks(s.utime + s.stime); got != 3250*time.Millisecond {
		t.Errorf("cpu %v", got)
	}
}

func TestParseStatus(t *testing.T) {
	got, err := parseStatus([]byte("Name:\tx\nVmPeak:\t 100 kB\nVmRSS:\t    2048 kB\nRssAnon:\t 1024 kB\nRssFile:\t 1000 kB\n"))
	if err != nil || got != (Memory{RSS: 2048 << 10, Anon: 1024 << 10, File: 1000 << 10}) {
		t.Errorf("parseStatus = %+v, %v", got, err)
	}
	if _, err := parseStatus([]byte("Name:\tx\nVmRSS:\t 1 kB\n")); err == nil {
		t.Error("a status without RssAnon accepted")
	}
}

func TestTreeOfThisProcess(t *testing.T) {
	u, err := Tree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.Processes < 1 || u.RSS <= 0 {
		t.Errorf("usage of this process: %+v", u)
	}
	m, err := RSS(os.Getpid())
	if err != nil || m.RSS <= 0 || m.Anon <= 0 || m.File <= 0 {
		t.Errorf("RSS = %+v, %v", m, err)
	}
}

func TestOpenFiles(t *testing.T) {
	n, err := OpenFiles(os.Getpid())
	if err != nil || n < 3 {
		t.Errorf("OpenFiles = %d, %v", n, err)
	}
}
