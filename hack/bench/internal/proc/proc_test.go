package proc

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestStopEndsTheWholeGroup(t *testing.T) {
	g := NewGroup(t.TempDir())
	// The shell's child sleeps on after the shell is told to stop, unless the group is signalled.
	p, err := g.Start("sleeper", exec.Command("sh", "-c", "trap '' TERM; echo started; sleep 60 & wait"))
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitUntil("output", 5*time.Second, func() bool {
		data, _ := os.ReadFile(p.Log)
		return strings.Contains(string(data), "started")
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	g.StopAll(200 * time.Millisecond)
	if p.Err() == nil {
		t.Error("the process still runs after StopAll")
	}
	if time.Since(start) > 5*time.Second {
		t.Error("StopAll took too long")
	}
}

func TestWaitUntilSeesTheExit(t *testing.T) {
	g := NewGroup(t.TempDir())
	p, err := g.Start("false", exec.Command("false"))
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitUntil("never", 5*time.Second, func() bool { return false })
	if !errors.Is(err, ErrExited) {
		t.Errorf("WaitUntil = %v, want ErrExited", err)
	}
	g.StopAll(time.Second)
}
