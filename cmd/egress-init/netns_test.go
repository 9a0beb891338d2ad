package main

import (
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"egress.io/egress/internal/netnstest"
	"egress.io/egress/pkg/redirect"
)

// IDs of the processes the tests run in the pod.
const (
	appUID  = 1000
	sidecar = redirect.DefaultSidecarUID // also the sidecar's GID
)

// addressFamily holds the addresses one family's checks use.
type addressFamily struct {
	name     string
	world    netip.Addr // a server in the world namespace, intercepted
	excluded netip.Addr // a server in the world namespace, in --exclude-outbound-cidrs
	far      netip.Addr // routed to the world namespace but owned by nobody
	loopback netip.Addr
	pod      netip.Addr // the pod's own address
}

var (
	ipv4 = addressFamily{
		name:     "IPv4",
		world:    netnstest.WorldIPv4,
		excluded: netip.MustParseAddr("198.18.0.3"),
		far:      netip.MustParseAddr("198.19.0.53"),
		loopback: netip.MustParseAddr("127.0.0.1"),
		pod:      netnstest.PodIPv4,
	}
	ipv6 = addressFamily{
		name:     "IPv6",
		world:    netnstest.WorldIPv6,
		excluded: netip.MustParseAddr("2001:db8::3"),
		far:      netip.MustParseAddr("2001:db8:ffff::53"),
		loopback: netip.MustParseAddr("::1"),
		pod:      netnstest.PodIPv6,
	}
	// excludeArgs exclude ipv4.excluded, ipv6.excluded and port 8443.
	excludeArgs = []string{"--exclude-outbound-cidrs=198.18.0.3/32,2001:db8::3/128", "--exclude-outbound-ports=8443"}
)

func at(addr netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(addr, port) }

// requireNamespaceTest fails (never skips, but under -short) unless the test can run for real.
func requireNamespaceTest(t *testing.T) {
	t.Helper()
	netnstest.SkipIfShort(t)
	netnstest.RequireRoot(t)
	netnstest.RequireCommands(t, "iptables", "ip6tables", "iptables-save", "ip6tables-save", "ip", "setpriv")
	if egressInit == "" {
		t.Fatal("egress-init was not built by TestMain")
	}
}

// runEgressInit runs the real egress-init as root inside the pod namespace and returns its log.
func runEgressInit(t *testing.T, p *netnstest.Pair, args ...string) string {
	t.Helper()
	cmd := netnstest.Command(p.Pod, 0, 0, egressInit, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("egress-init %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, stderr.String())
	}
	return stderr.String()
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// saveTables returns iptables-save and ip6tables-save of the pod without comments and counters.
func saveTables(t *testing.T, p *netnstest.Pair) string {
	t.Helper()
	var b strings.Builder
	for _, command := range []string{"iptables-save", "ip6tables-save"} {
		fmt.Fprintf(&b, "## %s\n", command)
		for line := range strings.Lines(p.Run(t, p.Pod, 0, 0, command)) {
			if !strings.HasPrefix(line, "#") {
				b.WriteString(counters.ReplaceAllString(line, "[0:0]"))
			}
		}
	}
	return b.String()
}

// addForeignRules gives every table a chain and an OUTPUT rule of someone else's, which egress-init
// must keep, and which makes every table exist before egress-init runs.
func addForeignRules(t *testing.T, p *netnstest.Pair) {
	t.Helper()
	for _, command := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"nat", "filter"} {
			p.Run(t, p.Pod, 0, 0, command, "-t", table, "-N", "FOREIGN")
			p.Run(t, p.Pod, 0, 0, command, "-t", table, "-A", "FOREIGN", "-p", "tcp", "--dport", "9", "-j", "RETURN")
			p.Run(t, p.Pod, 0, 0, command, "-t", table, "-A", "OUTPUT", "-p", "tcp", "--dport", "9", "-j", "FOREIGN")
		}
	}
}

// ownRules groups the rules of egress-init's chains, and the jumps to them, by family, table and chain,
// from iptables-save output or from a --dry-run plan (whose "-I OUTPUT 1" reads as "-A OUTPUT").
func ownRules(text string) map[string][]string {
	rules := make(map[string][]string)
	family, table := "IPv4", ""
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "## ip6tables-save"), strings.HasPrefix(line, "# IPv6"):
			family = "IPv6"
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, "-I OUTPUT 1 "):
			line = "-A OUTPUT " + strings.TrimPrefix(line, "-I OUTPUT 1 ")
			fallthrough
		case strings.HasPrefix(line, "-A "):
			chain := strings.Fields(line)[1]
			if strings.HasPrefix(chain, "EGRESS_") || strings.Contains(line, "-j EGRESS_") {
				key := family + " " + table + " " + chain
				rules[key] = append(rules[key], line)
			}
		}
	}
	return rules
}

// TestInterception installs the rules in a fresh pod namespace and shows, from processes running as an
// app UID and as the sidecar's, where each kind of traffic goes, for IPv4 and IPv6; then that a rerun
// changes nothing and --cleanup restores the tables exactly.
func TestInterception(t *testing.T) {
	requireNamespaceTest(t)
	p := netnstest.NewPair(t)
	p.AddWorldAddress(t, ipv4.excluded)
	p.AddWorldAddress(t, ipv6.excluded)
	addForeignRules(t, p)
	before := saveTables(t, p)

	log := runEgressInit(t, p, excludeArgs...)
	if !strings.Contains(log, "IPv4=intercept IPv6=intercept") {
		t.Errorf("egress-init did not intercept both families (the pod has IPv6):\n%s", log)
	}
	installed := saveTables(t, p)
	t.Run("installed rules are the dry-run plan, byte for byte", func(t *testing.T) {
		plan := p.Run(t, p.Pod, 0, 0, egressInit, append(excludeArgs, "--dry-run")...)
		if got, want := ownRules(installed), ownRules(plan); !reflect.DeepEqual(got, want) || len(want) != 10 {
			t.Errorf("installed rules differ from the plan:\n got %q\nwant %q", got, want)
		}
	})

	for _, f := range []addressFamily{ipv4, ipv6} {
		t.Run(f.name, func(t *testing.T) { checkFamily(t, p, f) })
	}

	t.Run("rerun changes nothing", func(t *testing.T) {
		log := runEgressInit(t, p, excludeArgs...)
		if !strings.Contains(log, "changes=0") || strings.Contains(log, "changed iptables") {
			t.Errorf("second run reported changes:\n%s", log)
		}
		if after := saveTables(t, p); after != installed {
			t.Errorf("second run changed the tables:\nbefore:\n%s\nafter:\n%s", installed, after)
		}
	})

	t.Run("cleanup restores the tables as they were", func(t *testing.T) {
		runEgressInit(t, p, "--cleanup")
		if after := saveTables(t, p); after != before {
			t.Errorf("after --cleanup:\n%s\nbefore the first run:\n%s", after, before)
		}
		if log := runEgressInit(t, p, "--cleanup"); !strings.Contains(log, "changes=0") {
			t.Errorf("second --cleanup reported changes:\n%s", log)
		}
	})
}

// checkFamily runs the traffic checks of one family against the rules TestInterception installed.
func checkFamily(t *testing.T, p *netnstest.Pair, f addressFamily) {
	world := serveTCP(t, p.World, at(f.world, 443), "world")

	t.Run("app tcp is refused while nothing listens on the capture port", func(t *testing.T) {
		_, err := dial(p.Pod, appUID, appUID, at(f.world, 443))
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("app connection with no sidecar: %v, want connection refused", err)
		}
		if n := world.accepted.Load(); n != 0 {
			t.Errorf("the world accepted %d connections from the app, want 0", n)
		}
	})

	capture := serveRedirected(t, p.Pod, at(f.loopback, redirect.DefaultCapturePort), "capture")
	t.Run("app tcp lands on the capture port with its original destination", func(t *testing.T) {
		for _, dst := range []netip.AddrPort{at(f.world, 443), at(f.far, 80)} {
			out, err := dial(p.Pod, appUID, appUID, dst)
			if want := "capture " + dst.String(); err != nil || out != want {
				t.Errorf("app to %s: %q, %v, want %q", dst, out, err, want)
			}
		}
		if n := world.accepted.Load(); n != 0 {
			t.Errorf("the world accepted %d connections from the app, want 0", n)
		}
	})

	t.Run("sidecar uid and gid reach the world directly", func(t *testing.T) {
		for _, ids := range [][2]int{{sidecar, sidecar}, {sidecar, appUID}, {appUID, sidecar}} {
			out, err := dial(p.Pod, ids[0], ids[1], at(f.world, 443))
			if err != nil || out != "world" {
				t.Errorf("%d:%d to the world: %q, %v, want world", ids[0], ids[1], out, err)
			}
		}
		if n := world.accepted.Load(); n != 3 {
			t.Errorf("the world accepted %d connections, want 3", n)
		}
	})

	t.Run("app udp never leaves, sidecar udp does", func(t *testing.T) {
		quic := serveUDP(t, p.World, at(f.world, 443), "world-udp")
		if out, err := send(p.Pod, appUID, appUID, at(f.world, 443)); err == nil {
			t.Errorf("app udp got an answer: %q", out)
		}
		settle()
		if n := quic.received.Load(); n != 0 {
			t.Errorf("the world received %d datagrams from the app, want 0", n)
		}
		if out, err := send(p.Pod, sidecar, sidecar, at(f.world, 443)); err != nil || out != "world-udp" {
			t.Errorf("sidecar udp: %q, %v", out, err)
		}
	})

	t.Run("app dns goes to the dns port whatever the server", func(t *testing.T) {
		dnsPort := at(f.loopback, redirect.DefaultDNSPort)
		proxyUDP := serveUDP(t, p.Pod, dnsPort, "dns-proxy")
		proxyTCP := serveRedirected(t, p.Pod, dnsPort, "dns-proxy")
		worldDNS := serveUDP(t, p.World, at(f.world, 53), "world-dns")
		worldDNSTCP := serveTCP(t, p.World, at(f.world, 53), "world-dns")
		for _, server := range []netip.AddrPort{at(f.world, 53), at(f.far, 53)} {
			if out, err := send(p.Pod, appUID, appUID, server); err != nil || out != "dns-proxy" {
				t.Errorf("app dns over udp to %s: %q, %v, want dns-proxy", server, out, err)
			}
			if out, err := dial(p.Pod, appUID, appUID, server); err != nil || out != "dns-proxy "+server.String() {
				t.Errorf("app dns over tcp to %s: %q, %v, want dns-proxy %s", server, out, err, server)
			}
		}
		if proxyUDP.received.Load() != 2 || proxyTCP.accepted.Load() != 2 {
			t.Errorf("dns proxy saw %d datagrams and %d connections, want 2 and 2", proxyUDP.received.Load(), proxyTCP.accepted.Load())
		}
		// The sidecar's own queries, forwarded to the real resolver, must not loop back to it.
		if out, err := send(p.Pod, sidecar, sidecar, at(f.world, 53)); err != nil || out != "world-dns" {
			t.Errorf("sidecar dns: %q, %v, want world-dns", out, err)
		}
		if worldDNS.received.Load() != 1 || worldDNSTCP.accepted.Load() != 0 {
			t.Errorf("the world resolver saw %d datagrams and %d connections, want only the sidecar's one datagram",
				worldDNS.received.Load(), worldDNSTCP.accepted.Load())
		}
	})

	t.Run("excluded cidr and port go direct", func(t *testing.T) {
		excludedCIDR := serveTCP(t, p.World, at(f.excluded, 443), "world-excluded-cidr")
		serveTCP(t, p.World, at(f.world, 8443), "world-excluded-port")
		serveUDP(t, p.World, at(f.world, 8443), "world-excluded-port-udp")
		serveUDP(t, p.World, at(f.excluded, 443), "world-excluded-cidr-udp")
		checks := []struct {
			dial bool
			dst  netip.AddrPort
			want string
		}{
			{true, at(f.excluded, 443), "world-excluded-cidr"},
			{true, at(f.world, 8443), "world-excluded-port"},
			{false, at(f.world, 8443), "world-excluded-port-udp"},
			{false, at(f.excluded, 443), "world-excluded-cidr-udp"},
		}
		captured := capture.accepted.Load()
		for _, c := range checks {
			var out string
			var err error
			if c.dial {
				out, err = dial(p.Pod, appUID, appUID, c.dst)
			} else {
				out, err = send(p.Pod, appUID, appUID, c.dst)
			}
			if err != nil || out != c.want {
				t.Errorf("app to excluded %s (tcp %v): %q, %v, want %q", c.dst, c.dial, out, err, c.want)
			}
		}
		if excludedCIDR.accepted.Load() != 1 || capture.accepted.Load() != captured {
			t.Errorf("excluded traffic went through the capture port")
		}
	})

	t.Run("loopback and the pod's own address are not redirected", func(t *testing.T) {
		serveTCP(t, p.Pod, at(f.loopback, 8080), "local-loopback")
		serveTCP(t, p.Pod, at(f.pod, 8080), "local-pod-address")
		captured := capture.accepted.Load()
		for dst, want := range map[netip.AddrPort]string{
			at(f.loopback, 8080): "local-loopback",
			at(f.pod, 8080):      "local-pod-address",
		} {
			if out, err := dial(p.Pod, appUID, appUID, dst); err != nil || out != want {
				t.Errorf("app to %s: %q, %v, want %q", dst, out, err, want)
			}
		}
		if capture.accepted.Load() != captured {
			t.Errorf("local traffic went through the capture port")
		}
	})
}

// TestIPv6OffAndReconfiguration shows --ipv6=off refusing the app's IPv6 but not the sidecar's, then
// a rerun with the defaults switching IPv6 to interception, and --cleanup restoring the tables.
func TestIPv6OffAndReconfiguration(t *testing.T) {
	requireNamespaceTest(t)
	p := netnstest.NewPair(t)
	addForeignRules(t, p)
	before := saveTables(t, p)
	world := serveTCP(t, p.World, at(ipv6.world, 443), "world")

	log := runEgressInit(t, p, "--ipv6=off")
	if !strings.Contains(log, "IPv4=intercept IPv6=block") {
		t.Errorf("--ipv6=off did not block IPv6:\n%s", log)
	}
	if _, err := dial(p.Pod, appUID, appUID, at(ipv6.world, 443)); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("app IPv6 with --ipv6=off: %v, want connection refused", err)
	}
	if out, err := send(p.Pod, appUID, appUID, at(ipv6.world, 53)); err == nil {
		t.Errorf("app IPv6 DNS with --ipv6=off got an answer: %q", out)
	}
	// The sidecar's IPv6 needs neighbour discovery through the filter rules, too.
	if out, err := dial(p.Pod, sidecar, sidecar, at(ipv6.world, 443)); err != nil || out != "world" {
		t.Errorf("sidecar IPv6 with --ipv6=off: %q, %v", out, err)
	}
	if n := world.accepted.Load(); n != 1 {
		t.Errorf("the world accepted %d IPv6 connections, want only the sidecar's", n)
	}
	if strings.Contains(ownRulesText(saveTables(t, p)), "IPv6 nat") {
		t.Errorf("--ipv6=off installed IPv6 nat rules")
	}

	log = runEgressInit(t, p)
	if !strings.Contains(log, "IPv6 table=nat change=\"created chain EGRESS_OUTPUT\"") || !strings.Contains(log, "IPv6=intercept") {
		t.Errorf("rerun with --ipv6=auto did not add IPv6 interception:\n%s", log)
	}
	serveRedirected(t, p.Pod, at(ipv6.loopback, redirect.DefaultCapturePort), "capture")
	if out, err := dial(p.Pod, appUID, appUID, at(ipv6.world, 443)); err != nil || out != "capture [2001:db8::2]:443" {
		t.Errorf("app IPv6 after reconfiguration: %q, %v", out, err)
	}

	runEgressInit(t, p, "--cleanup")
	if after := saveTables(t, p); after != before {
		t.Errorf("after --cleanup:\n%s\nbefore the first run:\n%s", after, before)
	}
}

func ownRulesText(saved string) string {
	return fmt.Sprint(ownRules(saved))
}

// TestIPv6AutoDetection shows DetectFamilies inside real namespaces, and egress-init blocking IPv6 in a
// pod with no routable IPv6 address.
func TestIPv6AutoDetection(t *testing.T) {
	requireNamespaceTest(t)
	dual := netnstest.NewPair(t)
	v4only := netnstest.NewPair(t, netnstest.WithoutIPv6())
	for _, tt := range []struct {
		p    *netnstest.Pair
		want redirect.Families
	}{
		{dual, redirect.Families{IPv6: true}},
		{v4only, redirect.Families{}},
	} {
		var got redirect.Families
		err := netnstest.Do(tt.p.Pod, func() (err error) {
			got, err = redirect.DetectFamilies()
			return err
		})
		if err != nil || got != tt.want {
			t.Errorf("DetectFamilies in %s = %+v, %v, want %+v", tt.p.Pod, got, err, tt.want)
		}
	}

	log := runEgressInit(t, v4only)
	if !strings.Contains(log, "IPv4=intercept IPv6=block") {
		t.Errorf("IPv4-only pod: %s", log)
	}
	rules := ownRules(saveTables(t, v4only))
	if _, ok := rules["IPv6 nat EGRESS_OUTPUT"]; ok {
		t.Errorf("IPv4-only pod got IPv6 nat rules")
	}
	if len(rules["IPv6 filter EGRESS_REJECT"]) != 2 {
		t.Errorf("IPv4-only pod did not get the IPv6 refusals: %q", rules)
	}
}
