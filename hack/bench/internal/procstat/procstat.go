// Package procstat reads what the benchmark charges to a contender from /proc: the CPU time (user plus
// system) and the resident memory of a process and of every process descending from it (nginx's workers
// are children of its master).
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat: USER_HZ, 100 on every Linux ABI.
const userHZ = 100

// stat is what Tree needs from one /proc/PID/stat.
type stat struct {
	pid, ppid   int
	utime       uint64 // clock ticks
	stime       uint64 // clock ticks
	rssPages    int64
	startTicks  uint64
	commandName string
}

// readStat parses /proc/PID/stat. The command name is in parentheses and may itself contain spaces and
// parentheses, so the fields are counted from the last ')'.
func readStat(pid int) (stat, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return stat{}, fmt.Errorf("reading stat of pid %d: %w", pid, err)
	}
	return parseStat(pid, data)
}

func parseStat(pid int, data []byte) (stat, error) {
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return stat{}, fmt.Errorf("stat of pid %d: no command name in %q", pid, data)
	}
	// Fields after the name start at field 3 (state); field n is f[n-3].
	f := strings.Fields(string(data[end+1:]))
	if len(f) < 22 {
		return stat{}, fmt.Errorf("stat of pid %d: %d fields after the name, want at least 22", pid, len(f))
	}
	s := stat{pid: pid, commandName: string(data[open+1 : end])}
	var err error
	parse := func(field int) uint64 {
		v, e := strconv.ParseUint(f[field-3], 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("stat of pid %d: field %d %q: %w", pid, field, f[field-3], e)
		}
		return v
	}
	s.ppid = int(parse(4))
	s.utime = parse(14)
	s.stime = parse(15)
	s.startTicks = parse(22)
	s.rssPages = int64(parse(24))
	return s, err
}

// Usage is the CPU time and resident memory of a process tree at one moment.
type Usage struct {
	CPU       time.Duration // user + system time of every process in the tree, since each started
	RSS       int64         // bytes resident, summed over the tree (shared pages counted once per process)
	Processes int
	PIDs      []int // the tree's processes, root first
}

// Tree returns the usage of pid and all its descendants. Processes that exit while it reads are skipped.
func Tree(pid int) (Usage, error) {
	root, err := readStat(pid)
	if err != nil {
		return Usage{}, err
	}
	children := map[int][]stat{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return Usage{}, fmt.Errorf("listing /proc: %w", err)
	}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == pid {
			continue
		}
		s, err := readStat(p)
		if err != nil {
			continue // gone meanwhile
		}
		children[s.ppid] = append(children[s.ppid], s)
	}
	page := int64(os.Getpagesize())
	var u Usage
	queue := []stat{root}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		u.CPU += ticks(s.utime + s.stime)
		u.RSS += s.rssPages * page
		u.Processes++
		u.PIDs = append(u.PIDs, s.pid)
		queue = append(queue, children[s.pid]...)
	}
	return u, nil
}

// Memory is the resident memory of one process, from /proc/PID/status, in bytes.
type Memory struct {
	RSS  int64 // VmRSS: everything resident
	Anon int64 // RssAnon: heap, stacks, runtime structures
	File int64 // RssFile: mapped files, mostly the executable's pages that were touched
}

// RSS returns the resident memory of pid alone.
func RSS(pid int) (Memory, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return Memory{}, fmt.Errorf("reading status of pid %d: %w", pid, err)
	}
	return parseStatus(data)
}

func parseStatus(status []byte) (Memory, error) {
	var m Memory
	fields := map[string]*int64{"VmRSS:": &m.RSS, "RssAnon:": &m.Anon, "RssFile:": &m.File}
	found := 0
	for line := range strings.Lines(string(status)) {
		f := strings.Fields(line)
		if len(f) != 3 || fields[f[0]] == nil {
			continue
		}
		if f[2] != "kB" {
			return m, fmt.Errorf("unexpected line %q in status", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return m, fmt.Errorf("%s %q: %w", f[0], f[1], err)
		}
		*fields[f[0]] = kb << 10
		found++
	}
	if found != len(fields) {
		return m, fmt.Errorf("status lacks VmRSS, RssAnon or RssFile")
	}
	return m, nil
}

func ticks(n uint64) time.Duration {
	return time.Duration(n) * time.Second / userHZ
}

// OpenFiles returns how many file descriptors pid has open (sockets, pipes, files).
func OpenFiles(pid int) (int, error) {
	entries, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return 0, fmt.Errorf("listing the descriptors of pid %d: %w", pid, err)
	}
	return len(entries), nil
}
