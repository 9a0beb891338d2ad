package netnstest

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// Addresses of every Pair: each pair has namespaces of its own, so they never collide. The pod routes
// the whole of 198.18.0.0/15 and 2001:db8::/32 to the world, so a test can use any address there as a
// remote server (e.g. a DNS server that does not exist), and nothing else.
var (
	PodIPv4   = netip.MustParseAddr("198.18.0.1")
	WorldIPv4 = netip.MustParseAddr("198.18.0.2")
	PodIPv6   = netip.MustParseAddr("2001:db8::1")
	WorldIPv6 = netip.MustParseAddr("2001:db8::2")
)

// WorldPublicCIDRs are the world's server addresses 198.18.0.2-198.18.0.7, for the sidecar's
// --public-cidrs: benchmarking space is refused by default (package addrclass), and here it stands in for
// the internet. The pod's own address stays refused.
const WorldPublicCIDRs = "198.18.0.2/31,198.18.0.4/30"

const (
	subnetBitsIPv4 = 24
	subnetBitsIPv6 = 64
	routedIPv4     = "198.18.0.0/15"
	routedIPv6     = "2001:db8::/32"
)

// Pair is a "pod" network namespace joined by a veth to a "world" namespace.
type Pair struct {
	Pod, World     string // namespace names, for `ip netns exec` and Run
	PodIf, WorldIf string // the two ends of the veth
	IPv6           bool   // whether the veth carries IPv6 (PodIPv6, WorldIPv6)
}

// Option changes what NewPair builds.
type Option func(*Pair)

// WithoutIPv6 leaves the veth without IPv6 addresses (only the kernel's link-local ones), as in an
// IPv4-only cluster.
func WithoutIPv6() Option { return func(p *Pair) { p.IPv6 = false } }

var pairCount atomic.Int32

// CreatePair creates a fresh pair with unique names, loopback up in both namespaces, PodIPv4/PodIPv6 and
// WorldIPv4/WorldIPv6 on the veth (/24 and /64, IPv6 without duplicate address detection so it is usable
// at once) and routes for 198.18.0.0/15 and 2001:db8::/32 from the pod to the world, nothing more. The
// veth is created inside the namespaces, never in the host's. Remove deletes both namespaces; on error
// nothing is left. It needs root and ip.
func CreatePair(opts ...Option) (_ *Pair, err error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("network namespaces need root (euid is %d)", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("network namespaces need ip (iproute2): %w", err)
	}
	sweepOnce.Do(sweepStale)
	// Names hold the pid, so concurrent test binaries do not collide and sweepStale can tell whose they
	// are; "egt4194304-999p" is the longest, within IFNAMSIZ (15).
	id := fmt.Sprintf("%d-%d", os.Getpid(), pairCount.Add(1))
	p := &Pair{
		Pod: "egt" + id + "p", World: "egt" + id + "w",
		PodIf: "egt" + id + "a", WorldIf: "egt" + id + "b",
		IPv6: true,
	}
	for _, opt := range opts {
		opt(p)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.Remove())
		}
	}()
	for _, ns := range []string{p.Pod, p.World} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("creating network namespace %s: %v: %s", ns, err, out)
		}
	}
	steps := [][]string{
		{"ip", "link", "add", p.PodIf, "netns", p.Pod, "type", "veth", "peer", "name", p.WorldIf, "netns", p.World},
		{"ip", "-n", p.Pod, "link", "set", "lo", "up"},
		{"ip", "-n", p.World, "link", "set", "lo", "up"},
		{"ip", "-n", p.Pod, "addr", "add", fmt.Sprintf("%s/%d", PodIPv4, subnetBitsIPv4), "dev", p.PodIf},
		{"ip", "-n", p.World, "addr", "add", fmt.Sprintf("%s/%d", WorldIPv4, subnetBitsIPv4), "dev", p.WorldIf},
		{"ip", "-n", p.Pod, "link", "set", p.PodIf, "up"},
		{"ip", "-n", p.World, "link", "set", p.WorldIf, "up"},
		{"ip", "-n", p.Pod, "route", "add", routedIPv4, "via", WorldIPv4.String()},
	}
	if p.IPv6 {
		steps = append(steps,
			[]string{"ip", "-n", p.Pod, "addr", "add", fmt.Sprintf("%s/%d", PodIPv6, subnetBitsIPv6), "dev", p.PodIf, "nodad"},
			[]string{"ip", "-n", p.World, "addr", "add", fmt.Sprintf("%s/%d", WorldIPv6, subnetBitsIPv6), "dev", p.WorldIf, "nodad"},
			[]string{"ip", "-n", p.Pod, "route", "add", routedIPv6, "via", WorldIPv6.String()},
		)
	}
	for _, step := range steps {
		if out, err := exec.Command(step[0], step[1:]...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("setting up namespaces: %s: %v: %s", strings.Join(step, " "), err, out)
		}
	}
	return p, nil
}

// Remove deletes both namespaces (and so the veth); a namespace already gone is not an error.
func (p *Pair) Remove() error {
	var errs []error
	for _, ns := range []string{p.Pod, p.World} {
		if _, err := os.Stat(filepath.Join(netnsDir, ns)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("deleting network namespace %s: %v: %s", ns, err, out))
		}
	}
	return errors.Join(errs...)
}

// NewPair is CreatePair for a test: it fails t (naming what is missing) and removes the pair in
// t.Cleanup, even when the test fails.
func NewPair(t T, opts ...Option) *Pair {
	t.Helper()
	RequireRoot(t)
	RequireCommands(t, "ip", "setpriv")
	p, err := CreatePair(opts...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := p.Remove(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return p
}

// AddWorldAddress adds addr (e.g. another server address: 198.18.0.3) to the world end of the veth.
// It must lie in the veth's subnets, 198.18.0.0/24 or 2001:db8::/64, to be reachable from the pod.
func (p *Pair) AddWorldAddress(t T, addr netip.Addr) {
	t.Helper()
	bits, extra := subnetBitsIPv4, []string{}
	if addr.Is6() {
		bits, extra = subnetBitsIPv6, []string{"nodad"}
	}
	args := append([]string{"-n", p.World, "addr", "add", fmt.Sprintf("%s/%d", addr, bits), "dev", p.WorldIf}, extra...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("adding %s to the world namespace: %v: %s", addr, err, out)
	}
}

// Run runs name with args inside namespace ns as uid/gid (0/0 for root, with every capability; other
// IDs without supplementary groups or capabilities) and returns its stdout. It fails t, quoting the
// output, when the command fails.
func (p *Pair) Run(t T, ns string, uid, gid int, name string, args ...string) string {
	t.Helper()
	cmd := Command(ns, uid, gid, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s in %s as %d:%d: %v\nstdout: %s\nstderr: %s", strings.Join(append([]string{name}, args...), " "), ns, uid, gid, err, out, stderr.String())
	}
	return string(out)
}

// Command returns a command that runs name with args inside namespace ns as uid/gid, through
// `ip netns exec` and, for non-root IDs, `setpriv`. Commands are looked up in this process's PATH, so a
// test may give the command another PATH in Env. The binary must be executable by uid: build test
// binaries with BuildBinary.
func Command(ns string, uid, gid int, name string, args ...string) *exec.Cmd {
	argv := []string{"netns", "exec", ns}
	if uid != 0 || gid != 0 {
		argv = append(argv, lookPath("setpriv"), fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", gid), "--clear-groups", "--")
	}
	argv = append(argv, lookPath(name))
	return exec.Command("ip", append(argv, args...)...)
}

// lookPath returns the absolute path of name, or name itself when it is not in PATH (the command then
// fails, naming it).
func lookPath(name string) string {
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	return name
}
