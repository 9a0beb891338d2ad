// Package proc runs the benchmark's long-lived processes (origin, DNS, contenders) so that they can all be
// stopped, with their children, on exit or Ctrl-C: each starts in a process group of its own, its output
// goes to a log file, and Group.StopAll ends every group it started, by group id.
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Proc is one started process.
type Proc struct {
	Name string
	Log  string // path of the file that has its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result, valid once done is closed
}

// PID returns the process id (after `ip netns exec` and setpriv exec'd, the program's own).
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err returns how the process ended; nil while it runs.
func (p *Proc) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Stop sends SIGTERM to the process group, waits up to grace, then sends SIGKILL, and waits for the exit.
func (p *Proc) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Children that outlived their leader (none expected) go too.
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// Group starts processes and stops them all at the end.
type Group struct {
	dir   string
	mu    sync.Mutex
	procs []*Proc
}

// NewGroup returns a Group whose processes log into dir.
func NewGroup(dir string) *Group { return &Group{dir: dir} }

// Start starts cmd as name in a new process group, its output appended to dir/name.log.
func (g *Group) Start(name string, cmd *exec.Cmd) (*Proc, error) {
	logPath := filepath.Join(g.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	defer f.Close()
	if cmd.Stdout == nil {
		cmd.Stdout = f
	}
	if cmd.Stderr == nil {
		cmd.Stderr = f
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// StopAll stops every process still running, the most recently started first.
func (g *Group) StopAll(grace time.Duration) {
	g.mu.Lock()
	procs := g.procs
	g.procs = nil
	g.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(grace)
	}
}

// Remove forgets p (after the caller stopped it).
func (g *Group) Remove(p *Proc) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, q := range g.procs {
		if q == p {
			g.procs = append(g.procs[:i], g.procs[i+1:]...)
			return
		}
	}
}

// ErrExited is returned by WaitUntil when the process exits before the condition holds.
var ErrExited = errors.New("process exited")

// WaitUntil polls ok every 20ms until it returns true, the process exits, or timeout passes.
func (p *Proc) WaitUntil(what string, timeout time.Duration, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if ok() {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s: waiting for %s: %w (%v); see %s", p.Name, what, ErrExited, p.err, p.Log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: timed out after %v waiting for %s; see %s", p.Name, timeout, what, p.Log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
