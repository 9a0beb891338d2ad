package netnstest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

var (
	sweepOnce sync.Once
	// ownName matches the namespaces NewPair names, capturing the creating process's pid.
	ownName = regexp.MustCompile(`^egt(\d+)-\d+(?:[pw]|n\d+)$`)
	// ownDir matches the directories TempDir names, capturing the creating process's pid.
	ownDir = regexp.MustCompile(`^egt(\d+)-tmp-`)
)

// TempDir makes a new directory in the system's temporary directory, named after pattern as os.MkdirTemp
// does, and tagged with this process's pid so that the stale sweep removes it once this process is gone
// (a test binary killed before its cleanup ran).
func TempDir(pattern string) (string, error) {
	sweepOnce.Do(sweepStale)
	return os.MkdirTemp("", fmt.Sprintf("egt%d-tmp-%s", os.Getpid(), pattern))
}

// sweepStale removes what test processes that no longer run left behind: t.Cleanup never ran in a process
// killed by a test timeout or SIGKILL. Their namespaces go, with every process still running in them (the
// nginx, DNS server or sidecar a test started there), and so do their directories (TempDir). What belongs
// to live processes is left alone.
func sweepStale() {
	if entries, err := os.ReadDir(netnsDir); err == nil {
		for _, e := range entries {
			if m := ownName.FindStringSubmatch(e.Name()); m != nil && !running(m[1]) {
				killIn(e.Name())
				exec.Command("ip", "netns", "delete", e.Name()).Run()
			}
		}
	}
	if entries, err := os.ReadDir(os.TempDir()); err == nil {
		for _, e := range entries {
			if m := ownDir.FindStringSubmatch(e.Name()); m != nil && e.IsDir() && !running(m[1]) {
				os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
			}
		}
	}
}

// running says whether the process pid runs (a pid the kernel gave to another process since counts as
// running: its leftovers wait for a later sweep).
func running(pid string) bool {
	_, err := os.Stat(filepath.Join("/proc", pid))
	return !errors.Is(err, fs.ErrNotExist)
}

// killIn kills every process in the network namespace ns.
func killIn(ns string) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return
	}
	for _, field := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(field); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
