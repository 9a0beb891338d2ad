package cluster

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

var (
	netnsPattern = regexp.MustCompile(`^egn-(.+)-(node|world)$`)
	dirPattern   = regexp.MustCompile(`^egress-node-(.+)$`)
)

// Sweep removes what clusters whose creator and agent are both gone left behind (a test killed with
// SIGKILL, a machine that lost power mid-run is reset anyway): their network namespaces, cgroups and state
// directories. Clusters in use are left alone. Start calls it first.
func Sweep() error {
	names := map[string]bool{}
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			if m := netnsPattern.FindStringSubmatch(e.Name()); m != nil {
				names[m[1]] = true
			}
		}
	}
	if entries, err := os.ReadDir(os.TempDir()); err == nil {
		for _, e := range entries {
			if m := dirPattern.FindStringSubmatch(e.Name()); m != nil && e.IsDir() {
				names[m[1]] = true
			}
		}
	}
	var errs []error
	for name := range names {
		if inUse(name) {
			continue
		}
		if err := teardown(name); err != nil {
			errs = append(errs, fmt.Errorf("sweeping the dead cluster %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// teardown removes every trace of cluster name, whose processes are gone: cgroups (as recorded in its state
// directory, and its cgroup root in every hierarchy), network namespaces, state directory.
func teardown(name string) error {
	l := layout{stateDir(name)}
	var errs []error
	if data, err := os.ReadFile(l.cgroups()); err == nil {
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 0 && lines[0] != "" {
			if err := removeCgroups(lines[0], lines[1:]); err != nil {
				errs = append(errs, err)
			}
		}
	} else if root, err := cgroupRoot(name); err == nil {
		// No record: the cgroup root under this process's memory cgroup is the best guess.
		if err := removeCgroups(root, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if err := deleteNetwork(name); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(l.dir); err != nil {
		errs = append(errs, fmt.Errorf("removing %s: %w", l.dir, err))
	}
	return errors.Join(errs...)
}

// recordCgroups writes the cgroup root and the directories created for it.
func recordCgroups(l layout, root string, created []string) error {
	return os.WriteFile(l.cgroups(), []byte(strings.Join(append([]string{root}, created...), "\n")+"\n"), 0o644)
}
