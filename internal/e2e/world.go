package e2e

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"egress.io/egress/internal/dnstest"
	"egress.io/egress/internal/netnstest"
	"egress.io/egress/internal/testworld"
)

// The world's names: api.example.test is the third-party API the app calls; other.example.test is a second
// site nobody allows.
const (
	APIHost   = "api.example.test"
	OtherHost = "other.example.test"
)

// World is the world namespace's servers.
type World struct {
	ns     string
	Dir    string
	CAFile string // the test CA that signed the world's certificates
	DNS    *dnstest.Server
}

const worldNginxConf = testworld.NginxPreamble + `
http {` + testworld.NginxHTTPPreamble + `
    server {
        listen 198.18.0.2:80 default_server;
        location / { return 200 "hello from $host over plain HTTP\n"; }
    }
    server {
        listen 198.18.0.2:443 ssl default_server;
        server_name api.example.test;
        ssl_certificate {{dir}}/api.example.test.pem;
        ssl_certificate_key {{dir}}/api.example.test.key;
        location / { return 200 "hello from $host over verified TLS\n"; }
    }
    server {
        listen 198.18.0.2:443 ssl;
        server_name other.example.test;
        ssl_certificate {{dir}}/other.example.test.pem;
        ssl_certificate_key {{dir}}/other.example.test.key;
        location / { return 200 "hello from $host over verified TLS\n"; }
    }
}
`

// startWorld starts nginx and DNS in the world namespace and counts the TCP connections that reach it.
func startWorld(t T, ns string) *World {
	t.Helper()
	w := &World{ns: ns, Dir: testworld.Dir(t, "egress-e2e-world-")}
	w.CAFile = testworld.WriteCerts(t, w.Dir, APIHost, OtherHost)
	world := netnstest.WorldIPv4
	w.DNS = testworld.StartDNS(t, ns, netip.AddrPortFrom(world, 53), map[string][]netip.Addr{
		APIHost: {world}, OtherHost: {world},
	}, 30*time.Second)
	// Every TCP SYN that reaches the world is counted, so a test can show that nothing got there.
	if out, err := exec.Command("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-p", "tcp", "--syn",
		"-m", "comment", "--comment", "e2e: connections reaching the world").CombinedOutput(); err != nil {
		t.Fatalf("counting the world's connections: %v: %s", err, out)
	}
	testworld.StartNginx(t, ns, w.Dir, worldNginxConf, "http://198.18.0.2/")
	return w
}

// Connections returns how many TCP connections have reached the world so far.
func (w *World) Connections(t T) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", w.ns, "iptables-save", "-c", "-t", "filter").CombinedOutput()
	if err != nil {
		t.Fatalf("reading the world's connection counter: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "connections reaching the world") && strings.HasPrefix(line, "[") {
			packets, _, _ := strings.Cut(strings.TrimPrefix(line, "["), ":")
			n, _ := strconv.Atoi(packets)
			return n
		}
	}
	t.Fatalf("the world's connection counter is missing:\n%s", out)
	return 0
}

// AccessLog returns nginx's access log: "$connection $scheme $host $request_uri $status" lines.
func (w *World) AccessLog() string {
	data, _ := os.ReadFile(filepath.Join(w.Dir, "access.log"))
	return string(data)
}
