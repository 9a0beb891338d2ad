package cluster

import (
	"fmt"
	"os/exec"
	"strings"
)

// netnsNames are the node's and the world's network namespaces of cluster name.
func netnsNames(name string) (node, world string) {
	return "egn-" + name + "-node", "egn-" + name + "-world"
}

// createNetwork creates the node's and the world's network namespaces, joined by a veth: the node's end
// holds the node's address and its uplink address, its default route leads into the world (a dead end, as a
// node's leads off to its network), and the world routes the cluster's ranges back to the node. Nothing is
// created in the host's namespace. Every TCP connection that reaches the world is counted.
func createNetwork(name string) error {
	node, world := netnsNames(name)
	steps := [][]string{
		{"ip", "netns", "add", node},
		{"ip", "netns", "add", world},
		{"ip", "-n", node, "link", "set", "lo", "up"},
		{"ip", "-n", world, "link", "set", "lo", "up"},
		{"ip", "link", "add", "uplink0", "netns", node, "type", "veth", "peer", "name", "world0", "netns", world},
		{"ip", "-n", node, "addr", "add", UplinkIP + "/24", "dev", "uplink0"},
		{"ip", "-n", node, "addr", "add", NodeIP + "/24", "dev", "uplink0"},
		{"ip", "-n", node, "link", "set", "uplink0", "up"},
		{"ip", "-n", world, "addr", "add", WorldIP + "/24", "dev", "world0"},
		{"ip", "-n", world, "link", "set", "world0", "up"},
		{"ip", "-n", node, "route", "add", "default", "via", WorldIP},
		{"ip", "-n", world, "route", "add", "198.19.0.0/16", "via", UplinkIP},
		{"ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"ip", "netns", "exec", world, "iptables", "-w", "-A", "INPUT", "-i", "world0", "-p", "tcp", "--syn",
			"-m", "comment", "--comment", worldCounterComment},
	}
	for _, step := range steps {
		if out, err := exec.Command(step[0], step[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("network: %s: %w: %s", strings.Join(step, " "), err, out)
		}
	}
	return nil
}

// deleteNetwork deletes both namespaces (their veth, routes and iptables rules go with them); a namespace
// already gone is not an error.
func deleteNetwork(name string) error {
	var errs []string
	for _, ns := range []string{netnsNamesNode(name), netnsNamesWorld(name)} {
		if !netnsExists(ns) {
			continue
		}
		if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Sprintf("deleting network namespace %s: %v: %s", ns, err, out))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func netnsNamesNode(name string) string  { n, _ := netnsNames(name); return n }
func netnsNamesWorld(name string) string { _, w := netnsNames(name); return w }
