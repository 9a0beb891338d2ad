package netnstest

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// HostLink is a veth between the host namespace and a pod namespace, for what a pod reaches on its node (the
// API server in end-to-end tests) and what the node reaches in the pod (kubelet's probes, Prometheus).
type HostLink struct {
	HostIf        string
	HostIP, PodIP netip.Addr
}

// ConnectHost joins the pod namespace to the host namespace by a veth with hostIP and podIP on a /30 (both
// must be in 198.18.0.0/15, outside the pod/world subnet 198.18.0.0/24). Only that /30 is routed: the host
// gains no route into the world. Deleting the pod namespace (NewPair's cleanup) deletes the veth.
func (p *Pair) ConnectHost(t T, hostIP, podIP netip.Addr) HostLink {
	t.Helper()
	link := HostLink{HostIf: strings.TrimSuffix(p.Pod, "p") + "h", HostIP: hostIP, PodIP: podIP}
	podIf := strings.TrimSuffix(p.Pod, "p") + "c"
	steps := [][]string{
		{"ip", "link", "add", link.HostIf, "type", "veth", "peer", "name", podIf, "netns", p.Pod},
		{"ip", "addr", "add", hostIP.String() + "/30", "dev", link.HostIf},
		{"ip", "link", "set", link.HostIf, "up"},
		{"ip", "-n", p.Pod, "addr", "add", podIP.String() + "/30", "dev", podIf},
		{"ip", "-n", p.Pod, "link", "set", podIf, "up"},
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", link.HostIf).Run() })
	for _, step := range steps {
		if out, err := exec.Command(step[0], step[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("connecting %s to the host: %s: %v: %s", p.Pod, strings.Join(step, " "), err, out)
		}
	}
	return link
}

// String describes the link for logs.
func (l HostLink) String() string {
	return fmt.Sprintf("%s host %s pod %s", l.HostIf, l.HostIP, l.PodIP)
}
