package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A process is named by its PID and its start time (field 22 of /proc/PID/stat), so that a PID the kernel
// gave to another process since is not taken for it.
type process struct {
	PID   int
	Start string
}

func processOf(pid int) (process, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return process{}, err
	}
	// The command name (field 2) may hold spaces; fields after its closing parenthesis are plain.
	text := string(data)
	i := strings.LastIndexByte(text, ')')
	if i < 0 {
		return process{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(text[i+1:])
	if len(fields) < 20 {
		return process{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return process{PID: pid, Start: fields[19]}, nil
}

func (p process) String() string { return strconv.Itoa(p.PID) + " " + p.Start }

// alive says whether the process still runs (a zombie counts as gone).
func (p process) alive() bool {
	if p.PID <= 0 {
		return false
	}
	now, err := processOf(p.PID)
	if err != nil || now.Start != p.Start {
		return false
	}
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.PID), "status"))
	return err == nil && !strings.Contains(string(status), "State:\tZ")
}

func writeProcess(path string, p process) error {
	return os.WriteFile(path, []byte(p.String()+"\n"), 0o644)
}

func readProcess(path string) (process, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return process{}, err
	}
	var p process
	if _, err := fmt.Sscanf(string(data), "%d %s", &p.PID, &p.Start); err != nil {
		return process{}, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// stateDir is where cluster name keeps its state.
func stateDir(name string) string { return filepath.Join(os.TempDir(), "egress-node-"+name) }

// inUse says whether cluster name's creator or agent still runs.
func inUse(name string) bool {
	l := layout{stateDir(name)}
	for _, f := range []string{l.owner(), l.agentPID()} {
		if p, err := readProcess(f); err == nil && p.alive() {
			return true
		}
	}
	return false
}

func netnsExists(ns string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", ns))
	return !errors.Is(err, fs.ErrNotExist)
}
