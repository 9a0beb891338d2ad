package netnstest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSweepStaleRemovesWhatADeadProcessLeft stands in for a test binary killed before its cleanup: a
// namespace with a process still running in it and a directory, both tagged with a pid that has exited.
func TestSweepStaleRemovesWhatADeadProcessLeft(t *testing.T) {
	SkipIfShort(t)
	RequireRoot(t)
	RequireCommands(t, "ip", "sleep")
	// The leftovers are tagged with the pid of a process that runs while they are made and ends before the
	// sweep: a sweep of another test binary starting meanwhile leaves them alone until they are whole.
	owner := exec.Command("sleep", "60")
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { owner.Process.Kill(); owner.Wait() })
	deadPID := owner.Process.Pid

	ns := fmt.Sprintf("egt%d-1p", deadPID)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", ns).Run() })
	orphan := exec.Command("ip", "netns", "exec", ns, "sleep", "60")
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { orphan.Process.Kill() })
	waitInNamespace(t, ns)

	staleDir := filepath.Join(os.TempDir(), fmt.Sprintf("egt%d-tmp-x", deadPID))
	if err := os.MkdirAll(filepath.Join(staleDir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(staleDir) })
	liveDir, err := TempDir("live-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(liveDir)

	owner.Process.Kill()
	owner.Wait()
	sweepStale()

	err = orphan.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("the process in the stale namespace ended with %v, want killed", err)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, ns)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale namespace %s still there (%v)", ns, err)
	}
	if _, err := os.Stat(staleDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale directory %s still there (%v)", staleDir, err)
	}
	if _, err := os.Stat(liveDir); err != nil {
		t.Errorf("this process's directory was swept: %v", err)
	}
}

// waitInNamespace waits until a process runs in namespace ns.
func waitInNamespace(t *testing.T, ns string) {
	t.Helper()
	for range 100 {
		if out, _ := exec.Command("ip", "netns", "pids", ns).Output(); len(out) > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no process appeared in namespace %s", ns)
}
