package sidecar_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"egress.io/egress/internal/netnstest"
)

// lateDelay is how long the late clients wait before their first byte: longer than the sidecar's
// --sniff-timeout (500ms by default), as a pre-connecting pool or browser does.
const lateDelay = "1500ms"

// TestSidecarHTTPFidelity runs real clients (curl, net/http, crypto/tls) against origin.example.test, a Go
// server, through the sidecar: the protocol is passed on as the app and the origin speak it, and a
// connection's policy does not depend on how fast its client speaks.
func TestSidecarHTTPFidelity(t *testing.T) {
	netnstest.SkipIfShort(t)
	e := newEnv(t)

	// First, while no name resolves to the origin's address: a late client is decided by what it says.
	t.Run("late HTTP to an address no name resolved to is decided by Host", func(t *testing.T) {
		out, err := netnstest.Helper(e.pair.Pod, appUID, appUID, "late-http", originIP.String()+":80", lateDelay,
			"origin.example.test", "denied.example.test")
		want := "200 |origin HTTP/1.1 origin.example.test\n" +
			`403 denied.example.test:80; allow with target "denied.example.test:80"|egress denied: no EgressRuleSet of this pod allows denied.example.test:80; allow with target "denied.example.test:80"` + "\n"
		if err != nil || out != want {
			t.Errorf("got %q, %v; want %q", out, err, want)
		}
	})
	t.Run("late TLS to an address no name resolved to is decided by SNI", func(t *testing.T) {
		out, err := netnstest.Helper(e.pair.Pod, appUID, appUID, "late-tls", originIP.String()+":443", lateDelay,
			"origin.example.test", e.ca)
		if want := "200 origin HTTP/1.1 origin.example.test\n"; err != nil || out != want {
			t.Errorf("got %q, %v; want %q", out, err, want)
		}
		if out, err := netnstest.Helper(e.pair.Pod, appUID, appUID, "late-tls", originIP.String()+":443", lateDelay,
			"other.example.test", e.ca); err == nil {
			t.Errorf("a denied SNI got through: %q", out)
		}
	})

	t.Run("late HTTP to a name's address is still decided per request by Host", func(t *testing.T) {
		out, err := netnstest.Helper(e.pair.Pod, appUID, appUID, "late-http", "origin.example.test:80", lateDelay,
			"denied.example.test", "origin.example.test")
		want := `403 denied.example.test:80; allow with target "denied.example.test:80"|egress denied: no EgressRuleSet of this pod allows denied.example.test:80; allow with target "denied.example.test:80"` + "\n" +
			"200 |origin HTTP/1.1 origin.example.test\n"
		if err != nil || out != want {
			t.Errorf("got %q, %v; want %q", out, err, want)
		}
	})

	t.Run("late HTTP to NAME.egress.local is originated", func(t *testing.T) {
		out, err := netnstest.Helper(e.pair.Pod, appUID, appUID, "late-http", "origin.example.test.egress.local:80", lateDelay,
			"origin.example.test.egress.local")
		if want := "200 |origin HTTP/1.1 origin.example.test\n"; err != nil || out != want {
			t.Errorf("got %q, %v; want %q", out, err, want)
		}
	})

	t.Run("a server-first protocol on a port not in --server-first-ports", func(t *testing.T) {
		out, err := netnstest.Helper(e.pair.Pod, appUID, appUID, "banner", originIP.String()+":2525")
		if want := "220 origin ready\r\n221 bye to QUIT\r\n"; err != nil || out != want {
			t.Errorf("got %q, %v; want %q", out, err, want)
		}
	})

	t.Run("a NAT64 address embedding the metadata address is refused", func(t *testing.T) {
		out, err := e.curl(t, "-i", "http://metadata64.example.test/")
		want := `X-Egress-Denied: metadata64.example.test:80; resolves to 64:ff9b::a9fe:a9fe, a private or reserved address; allow with target "[64:ff9b::a9fe:a9fe]:80"`
		if err != nil || !strings.Contains(out, "403 Forbidden") || !strings.Contains(out, want) ||
			!strings.Contains(out, "embedding 169.254.169.254 (169.254.0.0/16 Link Local (RFC 3927))") {
			t.Errorf("got %q, %v; want a 403 with %q", out, err, want)
		}
	})

	t.Run("Expect: 100-continue refused at once sends no body", func(t *testing.T) {
		upload := filepath.Join(e.dir, "upload")
		if err := os.WriteFile(upload, []byte(strings.Repeat("u", 4<<20)), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, url := range []string{"http://origin.example.test/upload", "http://origin.example.test.egress.local/upload"} {
			// curl waits up to 5 s for "100 Continue" before it sends the body anyway.
			out, err := e.curl(t, "-o", "/dev/null", "-w", "%{http_code} %{size_upload}", "-H", "Expect: 100-continue",
				"--expect100-timeout", "5", "--data-binary", "@"+upload, url)
			if want := "401 0"; err != nil || out != want {
				t.Errorf("%s: got %q, %v; want %q (status, bytes uploaded)", url, out, err, want)
			}
		}
	})

	t.Run("responses are never held back", func(t *testing.T) {
		for _, c := range []struct{ name, base string }{
			{"plain, Content-Length", "http://origin.example.test/slow?token=plain-length"},
			{"plain, chunked", "http://origin.example.test/slow?chunked=1&token=plain-chunked"},
			{"origination, Content-Length", "http://origin.example.test.egress.local/slow?token=tls-length"},
			{"origination, chunked", "http://origin.example.test.egress.local/slow?chunked=1&token=tls-chunked"},
		} {
			release := strings.Replace(c.base, "/slow?", "/release?", 1)
			out, err := netnstest.Helper(e.pair.Pod, appUID, appUID, "slow-get", c.base, release)
			if want := "200 first|rest of the body"; err != nil || out != want {
				t.Errorf("%s: got %q, %v; want %q", c.name, out, err, want)
			}
		}
	})
}
