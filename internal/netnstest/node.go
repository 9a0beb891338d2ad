package netnstest

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync/atomic"
)

var nodeCount atomic.Int32

// AddNode adds a third kind of namespace behind the world: a "node" (an egress gateway's pod, say) joined
// to the world namespace by a veth, with nodeIP on its end and worldIP on the world's (a /30 in
// 198.18.0.0/15 outside 198.18.0.0/24), a default route through the world, and forwarding on in the world
// namespace, so the pod and the node reach each other and the world's servers see the node's own address.
// It returns the namespace's name; it is deleted in t.Cleanup (and by the stale sweep after a crash).
func (p *Pair) AddNode(t T, nodeIP, worldIP netip.Addr) string {
	t.Helper()
	k := nodeCount.Add(1)
	ns := strings.TrimSuffix(p.Pod, "p") + fmt.Sprintf("n%d", k)
	worldIf := fmt.Sprintf("node%d", k)
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", worldIf, "netns", p.World},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "addr", "add", nodeIP.String() + "/30", "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", p.World, "addr", "add", worldIP.String() + "/30", "dev", worldIf},
		{"ip", "-n", p.World, "link", "set", worldIf, "up"},
		{"ip", "-n", ns, "route", "add", "default", "via", worldIP.String()},
		{"ip", "netns", "exec", p.World, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
	for _, step := range steps {
		if out, err := exec.Command(step[0], step[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("adding node namespace %s: %s: %v: %s", ns, strings.Join(step, " "), err, out)
		}
	}
	return ns
}
