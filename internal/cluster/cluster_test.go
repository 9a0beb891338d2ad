package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMain(m *testing.M) {
	Main()
	if name := os.Getenv("EGRESS_NODE_TEST_HOLD"); name != "" {
		// Started by TestSweepAfterSIGKILL: start a node, say so, and wait to be killed.
		c, err := Start(Options{Name: name})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("ready", c.Dir)
		select {}
	}
	os.Exit(m.Run())
}

func requireNode(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real node; not run with -short")
	}
	if os.Geteuid() != 0 {
		t.Fatalf("a real node needs root; euid is %d", os.Geteuid())
	}
	if _, err := AssetsDir(); err != nil {
		t.Fatal(err)
	}
}

// hostState is what a node must leave as it found it: the host's network namespaces, links, routes,
// iptables (both back ends, both families), mounts, cgroups and the kernel tunables the kubelet and
// kube-proxy want. Entries other tests may make at the same time (their own namespaces, other nodes) are
// left out by keeping only what names cluster name.
func hostState(t *testing.T, name string) map[string]string {
	t.Helper()
	run := func(args ...string) string {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	keep := func(text string, words ...string) string {
		var lines []string
		for _, line := range strings.Split(text, "\n") {
			for _, w := range words {
				if strings.Contains(line, w) {
					lines = append(lines, line)
					break
				}
			}
		}
		return strings.Join(lines, "\n")
	}
	drop := func(text, word string) string {
		var lines []string
		for _, line := range strings.Split(text, "\n") {
			if !strings.Contains(line, word) {
				lines = append(lines, line)
			}
		}
		return strings.Join(lines, "\n")
	}
	noComments := func(text string) string {
		var lines []string
		for _, line := range strings.Split(text, "\n") {
			if !strings.HasPrefix(line, "#") {
				lines = append(lines, line)
			}
		}
		return strings.Join(lines, "\n")
	}
	var cgroups []string
	_ = filepath.WalkDir(cgroupMount, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.Contains(p, "egress-node-"+name) {
			cgroups = append(cgroups, p)
		}
		return nil
	})
	sysctls := run("sysctl", "vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
		"kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes", "net.netfilter.nf_conntrack_max", "net.ipv4.ip_forward")
	return map[string]string{
		"netns": keep(run("ip", "netns", "list"), "egn-"+name+"-"),
		// netnstest's host links (egt...) come and go with other packages' tests.
		"links":     drop(run("ip", "-o", "link"), "egt"),
		"routes":    drop(run("ip", "route")+run("ip", "-6", "route"), "egt"),
		"iptables":  noComments(run("iptables-save") + run("ip6tables-save") + run("iptables-legacy-save") + run("ip6tables-legacy-save")),
		"mounts":    keep(run("findmnt", "-rn", "-o", "TARGET,SOURCE,FSTYPE"), "egress-node-"+name, "egn-"+name+"-", "kubelet", "containerd"),
		"cgroups":   strings.Join(cgroups, "\n"),
		"sysctls":   sysctls,
		"statedirs": keep(run("ls", os.TempDir()), "egress-node-"+name),
	}
}

func compareHost(t *testing.T, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("the host's %s changed:\nbefore:\n%s\nafter:\n%s", k, v, after[k])
		}
	}
}

// TestNodeLeavesHostAsFound starts a node, checks what the tests rely on (a Ready node, cluster DNS, the
// controller manager's service accounts, the world's counter) and stops it: the host is as before.
func TestNodeLeavesHostAsFound(t *testing.T) {
	requireNode(t)
	if err := Sweep(); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("s%d", os.Getpid())
	before := hostState(t, name)
	c, err := Start(Options{Name: name, WorldNames: []string{"api.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			c.Stop()
		}
	})
	t.Logf("node Ready with cluster DNS in %v", c.Started.Round(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Client.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err != nil {
		t.Errorf("the controller manager did not publish kube-root-ca.crt: %v", err)
	}
	out, err := c.Kubectl(ctx, "", "version", "-o", "yaml")
	if err != nil || !strings.Contains(out, "gitVersion: v1.37.0") {
		t.Errorf("kubectl version: %s %v", out, err)
	}
	if n, err := c.WorldConnections(); err != nil || n != 0 {
		t.Errorf("world connections = %d, %v", n, err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	compareHost(t, before, hostState(t, name))
}

// TestSweepAfterSIGKILL kills a process that started a node with SIGKILL: the node dies with it, and the
// next Sweep removes everything it left.
func TestSweepAfterSIGKILL(t *testing.T) {
	requireNode(t)
	if err := Sweep(); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("k%d", os.Getpid())
	before := hostState(t, name)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EGRESS_NODE_TEST_HOLD="+name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := out.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "ready") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the holder did not start a node: %s", buf[:n])
	}
	agent, err := readProcess(layout{stateDir(name)}.agentPID())
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for agent.alive() {
		if time.Now().After(deadline) {
			t.Fatal("the node's agent outlived its SIGKILLed creator")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !netnsExists(netnsNamesNode(name)) {
		t.Fatal("nothing was left to sweep: the test proves nothing")
	}
	if err := Sweep(); err != nil {
		t.Fatal(err)
	}
	compareHost(t, before, hostState(t, name))
}
