package sidecar_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"egress.io/egress/internal/dnstest"
	"egress.io/egress/internal/netnstest"
	"egress.io/egress/internal/testworld"
)

// UIDs of the processes in the pod.
const (
	appUID     = 1000
	sidecarUID = 2555
)

// World addresses besides netnstest.WorldIPv4 (198.18.0.2: nginx, DNS).
var (
	imposterIP = netip.MustParseAddr("198.18.0.3") // a TLS server with its own certificate for api.example.test
	echoIP     = netip.MustParseAddr("198.18.0.4") // TCP echo, allowed by a CIDR target
	rawIP      = netip.MustParseAddr("198.18.0.5") // TCP echo, allowed by name via DNS
)

// env is one pod with egress-init's rules and the sidecar, and a world with servers.
type env struct {
	pair    *netnstest.Pair
	dir     string // readable by every UID: certificates, rules file, nginx files
	ca      string // PEM of the test CA
	rules   string // the sidecar's rules file
	access  string // nginx access log: "$connection $host $request_uri $status"
	sidecar *exec.Cmd
	stderr  *testworld.SyncBuffer
	dns     *dnstest.Server
}

const initialRules = `apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: e2e}
spec:
  targets:
  - api.example.test:443
  - api.example.test:80
  - wrong.example.test:443
  - raw.example.test:7000
  - private.example.test:7000
  - private.example.test:80
  - 198.18.0.4/32:7000
  - origin.example.test:80
  - origin.example.test:443
  - 198.18.0.6/32:2525
  - metadata64.example.test:80
`

func newEnv(t *testing.T) *env {
	t.Helper()
	netnstest.RequireRoot(t)
	netnstest.RequireCommands(t, "ip", "iptables", "ip6tables", "setpriv", "nginx", "curl", "promtool")
	p := netnstest.NewPair(t)
	e := &env{pair: p, stderr: &testworld.SyncBuffer{}}
	dir := testworld.Dir(t, "egress-sidecar-e2e-")
	e.dir = dir

	// The pod routes everything to the world (a dead end), so the sentinel 240.0.0.1 / 100::1 and the
	// private 10.1.2.3 are routable and get redirected like any destination.
	run(t, "ip", "-n", p.Pod, "route", "add", "default", "via", netnstest.WorldIPv4.String())
	run(t, "ip", "-n", p.Pod, "-6", "route", "add", "default", "via", netnstest.WorldIPv6.String())
	for _, a := range []netip.Addr{imposterIP, echoIP, rawIP, originIP} {
		p.AddWorldAddress(t, a)
	}
	netnsDir := filepath.Join("/etc/netns", p.Pod)
	if _, err := os.Stat("/etc/netns"); os.IsNotExist(err) {
		t.Cleanup(func() { os.Remove("/etc/netns") }) // only if empty: other tests may use it
	}
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(netnsDir) })
	testworld.WriteFile(t, filepath.Join(netnsDir, "resolv.conf"), "nameserver "+netnstest.WorldIPv4.String()+"\n")

	e.ca = testworld.WriteCerts(t, dir, "api.example.test", "other.example.test", "origin.example.test")
	e.startDNS(t)
	e.startNginx(t)
	e.startImposter(t)
	e.startOrigin(t)
	for _, a := range []netip.Addr{echoIP, rawIP} {
		testworld.ServeEcho(t, p.World, netip.AddrPortFrom(a, 7000))
	}

	e.rules = filepath.Join(dir, "rules.yaml")
	testworld.WriteFile(t, e.rules, initialRules)
	p.Run(t, p.Pod, 0, 0, egressInit)
	e.startSidecar(t)
	return e
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// startDNS serves the world's names at 198.18.0.2:53.
func (e *env) startDNS(t *testing.T) {
	t.Helper()
	world := netnstest.WorldIPv4
	records := map[string][]netip.Addr{
		"api.example.test":    {world},
		"other.example.test":  {world},
		"wrong.example.test":  {world},
		"denied.example.test": {world},
		"raw.example.test":    {rawIP},
		"origin.example.test": {originIP},
		// A Service in the cluster the sidecar's pod runs in: TestSidecarRoutes' deniedBackend.
		"sorry.egress-test.svc.cluster.local": {originIP},
		// What DNS64 answers for a name whose A record is the metadata address.
		"metadata64.example.test": {netip.MustParseAddr("64:ff9b::a9fe:a9fe")},
		"private.example.test":    {netip.MustParseAddr("10.1.2.3")},
	}
	e.dns = testworld.StartDNS(t, e.pair.World, netip.AddrPortFrom(world, 53), records, 30*time.Second)
}

const nginxConf = testworld.NginxPreamble + `
http {` + testworld.NginxHTTPPreamble + `
    server {
        listen 198.18.0.2:80 default_server;
        location / { return 200 "nginx http $host\n"; }
        location /large { root {{dir}}/www; limit_rate 600k; }
    }
    server {
        listen 198.18.0.2:443 ssl http2 default_server;
        server_name api.example.test;
        ssl_certificate {{dir}}/api.example.test.pem;
        ssl_certificate_key {{dir}}/api.example.test.key;
        location / { return 200 "nginx https $host\n"; }
        location /large { root {{dir}}/www; limit_rate 600k; }
    }
    server {
        listen 198.18.0.2:443 ssl http2;
        server_name other.example.test;
        ssl_certificate {{dir}}/other.example.test.pem;
        ssl_certificate_key {{dir}}/other.example.test.key;
        location / { return 200 "nginx https $host\n"; }
    }
}
`

// largeSize is the size of /large, which nginx serves at 600 KB/s: about 2.5 s.
const largeSize = 1500 << 10

func (e *env) startNginx(t *testing.T) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(e.dir, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	testworld.WriteFile(t, filepath.Join(e.dir, "www", "large"), strings.Repeat("x", largeSize))
	e.access = filepath.Join(e.dir, "access.log")
	testworld.StartNginx(t, e.pair.World, e.dir, nginxConf, "http://198.18.0.2/")
}

// startImposter serves HTTPS at 198.18.0.3:443 with a valid certificate for api.example.test from the
// same CA, answering "imposter": a tunnel to the address the app chose would reach it.
func (e *env) startImposter(t *testing.T) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(e.dir, "api.example.test.pem"), filepath.Join(e.dir, "api.example.test.key"))
	if err != nil {
		t.Fatal(err)
	}
	ln := netnstest.Listen(t, e.pair.World, "tcp", netip.AddrPortFrom(imposterIP, 443).String())
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "imposter\n") }),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
}

func (e *env) startSidecar(t *testing.T) {
	t.Helper()
	cmd := netnstest.Command(e.pair.Pod, sidecarUID, sidecarUID, egressSidecar,
		"--rules-file", e.rules,
		"--ca-bundle", e.ca,
		"--upstream-dns", "198.18.0.2:53",
		"--public-cidrs", netnstest.WorldPublicCIDRs,
		"--admin-addr", "127.0.0.1:15020",
		"--drain-timeout", "2s",
		"--log-allowed",
	)
	cmd.Stdout, cmd.Stderr = e.stderr, e.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.sidecar = cmd
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("sidecar stderr:\n%s", e.stderr.String())
		}
	})
	waitFor(t, "sidecar ready", func() bool {
		out, err := e.admin("/ready")
		return err == nil && strings.HasPrefix(out, "ready")
	})
}

// admin fetches a path of the sidecar's admin server from inside the pod (as root: loopback is never
// redirected).
func (e *env) admin(path string) (string, error) {
	out, err := netnstest.Command(e.pair.Pod, 0, 0, "curl", "-sf", "--max-time", "3", "http://127.0.0.1:15020"+path).Output()
	return string(out), err
}

// curl runs curl in the pod as the app, trusting the test CA, and returns its stdout and exit error.
func (e *env) curl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	args = append([]string{"-sS", "--max-time", "10", "--cacert", e.ca}, args...)
	var stderr bytes.Buffer
	cmd := netnstest.Command(e.pair.Pod, appUID, appUID, "curl", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("curl %s: %w: %s", strings.Join(args[5:], " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	testworld.WaitFor(t, what, 10*time.Second, ok)
}

// connectionsAt returns the distinct nginx connection numbers that served requestURI.
func (e *env) connectionsAt(t *testing.T, requestURI string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(e.access)
	if err != nil {
		t.Fatal(err)
	}
	conns := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && f[3] == requestURI {
			conns[f[0]] = true
		}
	}
	return conns
}
