package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the run happened and with which versions of the peers, for the report.
func machine() map[string]string {
	m := map[string]string{
		"nproc":   strconv.Itoa(runtime.NumCPU()),
		"go":      runtime.Version(),
		"kernel":  firstLine(command("uname", "-r")),
		"nginx":   firstLine(command("nginx", "-v")),
		"haproxy": firstLine(command("haproxy", "-v")),
		"wrk":     firstLine(command("wrk", "-v")),
		"curl":    firstLine(command("curl", "--version")),
		"commit":  firstLine(command("git", "rev-parse", "--short", "HEAD")),
	}
	if dirty := command("git", "status", "--porcelain"); strings.TrimSpace(dirty) != "" {
		m["commit"] += " (work tree has uncommitted changes)"
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m["cpu"] = strings.TrimSpace(value)
				break
			}
		}
	}
	m["sidecar_source_sha256"] = sourceHash("pkg/sidecar", "cmd/egress-sidecar", "pkg/policy")
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		m["memory"] = strings.Join(strings.Fields(firstLine(string(data)))[1:], " ")
	}
	return m
}

// command returns the combined output of a command (wrk -v and nginx -v print to stderr), or "".
func command(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	return string(out)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

// sourceHash identifies the sidecar's code the run measured (it may not be committed yet): the SHA-256 of
// the Go files under dirs, in path order.
func sourceHash(dirs ...string) string {
	h := sha256.New()
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return nil
			}
			data, err := os.ReadFile(path)
			if err == nil {
				fmt.Fprintf(h, "%s %d\n", path, len(data))
				h.Write(data)
			}
			return nil
		})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
