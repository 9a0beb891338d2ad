package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const cgroupMount = "/sys/fs/cgroup"

// cgroupRoot is the kubelet's cgroupRoot for cluster name: under this process's memory cgroup, so that the
// node stays inside whatever accounts for its creator.
func cgroupRoot(name string) (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		parts := strings.SplitN(scanner.Text(), ":", 3)
		if len(parts) == 3 && parts[1] == "memory" {
			return path.Join(parts[2], "egress-node-"+name), nil
		}
	}
	return "", errors.New("no memory cgroup in /proc/self/cgroup: the node needs cgroup v1 (hybrid), as this machine has")
}

// hierarchies are the mounted cgroup hierarchies (v1 controllers, name=systemd, the unified v2 one).
func hierarchies() ([]string, error) {
	entries, err := os.ReadDir(cgroupMount)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		p := filepath.Join(cgroupMount, e.Name())
		if info, err := os.Lstat(p); err == nil && info.IsDir() {
			if _, err := os.Stat(filepath.Join(p, "cgroup.procs")); err == nil {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// createCgroups creates root in every hierarchy (cpuset's with the parent's CPUs and memory nodes, which a
// new cpuset lacks) and returns every directory it created, parents first, for removeCgroups.
func createCgroups(root string) ([]string, error) {
	hs, err := hierarchies()
	if err != nil {
		return nil, err
	}
	var created []string
	for _, h := range hs {
		dir := h
		for _, part := range strings.Split(strings.Trim(root, "/"), "/") {
			parent := dir
			dir = filepath.Join(dir, part)
			if _, err := os.Stat(dir); err == nil {
				continue
			}
			if err := os.Mkdir(dir, 0o755); err != nil {
				return created, fmt.Errorf("creating cgroup %s: %w", dir, err)
			}
			created = append(created, dir)
			if filepath.Base(h) == "cpuset" {
				for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
					value, err := os.ReadFile(filepath.Join(parent, file))
					if err != nil {
						return created, err
					}
					if err := os.WriteFile(filepath.Join(dir, file), value, 0o644); err != nil {
						return created, fmt.Errorf("%s/%s: %w", dir, file, err)
					}
				}
			}
		}
	}
	return created, nil
}

// removeCgroups removes root's subtree in every hierarchy (what the kubelet and runc made under it), deepest
// first, then the directories createCgroups created. Cgroups of processes still exiting are retried for a
// few seconds.
func removeCgroups(root string, created []string) error {
	hs, err := hierarchies()
	if err != nil {
		return err
	}
	var dirs []string
	for _, h := range hs {
		top := filepath.Join(h, root)
		_ = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	// Deepest first: longer paths are below shorter ones.
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var errs []error
	for _, d := range dirs {
		if err := rmdirRetry(d); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := os.Remove(created[i]); err != nil && !errors.Is(err, fs.ErrNotExist) && !isNotEmpty(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func rmdirRetry(dir string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("removing cgroup %s: %w", dir, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// isNotEmpty says whether a parent directory is still in use (another cluster below it).
func isNotEmpty(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && (strings.Contains(pe.Err.Error(), "not empty") || strings.Contains(pe.Err.Error(), "busy"))
}
