package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"egress.io/egress/pkg/sidecar/dnsproxy"
)

// echoServer answers each connection with "echo " and what it read until EOF.
func echoServer(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				data, _ := io.ReadAll(c)
				fmt.Fprintf(c, "echo %s", data)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// runPath runs one of the engine's connection paths on a fresh connection, sends msg from the app side,
// closes its write half and returns what came back.
func runPath(t *testing.T, path func(c *net.TCPConn), msg string) string {
	t.Helper()
	client, server := tcpPair(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		path(server.(*net.TCPConn))
	}()
	client.Write([]byte(msg))
	client.(*net.TCPConn).CloseWrite()
	client.SetDeadline(time.Now().Add(5 * time.Second))
	reply, _ := io.ReadAll(client)
	<-done
	return string(reply)
}

func lastEvent(t *testing.T, env *proxyEnv) Event {
	t.Helper()
	events := env.e.reporter.ring.Snapshot()
	if len(events) == 0 {
		t.Fatal("no decision recorded")
	}
	return events[len(events)-1]
}

func TestOpaquePath(t *testing.T) {
	up := echoServer(t)
	p := up.Port()
	env := newProxyEnv(t, "")
	cache := dnsproxy.NewCache(0, nil)
	env.e.names = cache
	ctx := context.Background()
	opaque := func(c *net.TCPConn) { env.e.opaque(ctx, c, up, WhyUnknown, []byte("peeked-")) }

	env.setPolicy(t, fmt.Sprintf("db.example.test:%d", p))
	if got := runPath(t, opaque, "x"); got != "" {
		t.Errorf("address no target allows: %q", got)
	}
	if ev := lastEvent(t, env); ev.Decision != "deny" || ev.Protocol != "tcp" || ev.Suggestion != up.String() {
		t.Errorf("denial event %+v", ev)
	}

	// The app resolved db.example.test through the DNS proxy to this (loopback) address: the name is
	// allowed, but a name leading into a denied range needs a CIDR target.
	cache.Record("db.example.test", []netip.Addr{up.Addr()}, time.Minute)
	if got := runPath(t, opaque, "x"); got != "" {
		t.Errorf("name resolving to loopback: %q", got)
	}
	if ev := lastEvent(t, env); ev.Reason != reasonPrivateAddress || ev.Host != "db.example.test" {
		t.Errorf("private-address event %+v", ev)
	}

	env.setPolicy(t, fmt.Sprintf("127.0.0.1:%d", p))
	if got := runPath(t, opaque, "x"); got != "echo peeked-x" {
		t.Errorf("allowed by CIDR: %q", got)
	}
	if got := metricValue(t, env.e.metrics.connections.WithLabelValues("tcp", "allow", "127.0.0.1", fmt.Sprint(p))); got != 1 {
		t.Errorf("connections metric = %v", got)
	}
}

func TestPassthroughDialsTheName(t *testing.T) {
	up := echoServer(t)
	p := up.Port()
	env := newProxyEnv(t, "", fmt.Sprintf("api.example.test:%d", p), fmt.Sprintf("127.0.0.1:%d", p))
	env.resolve("api.example.test", "127.0.0.1")
	ctx := context.Background()
	// The app connected to 192.0.2.1, which is unreachable here: the sidecar must go to the name instead.
	orig := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), p)
	got := runPath(t, func(c *net.TCPConn) { env.e.passthrough(ctx, c, orig, "api.example.test", []byte("hello-")) }, "x")
	if got != "echo hello-x" {
		t.Errorf("allowed SNI: %q", got)
	}
	got = runPath(t, func(c *net.TCPConn) { env.e.passthrough(ctx, c, orig, "evil.example.test", []byte("hello-")) }, "x")
	if got != "" {
		t.Errorf("denied SNI: %q", got)
	}
	if ev := lastEvent(t, env); ev.Decision != "deny" || ev.Host != "evil.example.test" || ev.Protocol != "tls" ||
		ev.Suggestion != fmt.Sprintf("evil.example.test:%d", p) {
		t.Errorf("denial event %+v", ev)
	}
}

func TestCaptureRefusesLoops(t *testing.T) {
	env := newProxyEnv(t, "", "*:80", "127.0.0.0/8:1-65535")
	for _, orig := range []string{"127.0.0.1:8080", "[::1]:15001", "0.0.0.0:80"} {
		ap := netip.MustParseAddrPort(orig)
		env.e.origDst = func(*net.TCPConn) (netip.AddrPort, error) { return ap, nil }
		if got := runPath(t, func(c *net.TCPConn) { env.e.handleConn(context.Background(), c) }, "GET / HTTP/1.1\r\n\r\n"); got != "" {
			t.Errorf("%s: got %q", orig, got)
		}
		if ev := lastEvent(t, env); ev.Reason != reasonLoop {
			t.Errorf("%s: event %+v", orig, ev)
		}
	}
	if !env.e.isSelf(netip.MustParseAddrPort("127.0.0.2:15001")) || env.e.isSelf(netip.MustParseAddrPort("198.51.100.1:15001")) {
		t.Error("isSelf")
	}
	if env.e.tracker.Len() != 0 {
		t.Errorf("%d connections still tracked", env.e.tracker.Len())
	}
}

func TestHTTPPriorKnowledgeH2C(t *testing.T) {
	env, p := newUpstreamEnv(t, "api.example.test", http.HandlerFunc(echoHandler))
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{
		Protocols: &protocols,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", env.addr)
		},
	}}
	for host, want := range map[string]int{"api.example.test": 200, "evil.example.test": 403} {
		resp, err := client.Get(fmt.Sprintf("http://%s:%d/", host, p))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || resp.ProtoMajor != 2 {
			t.Errorf("h2c %s: %s %s, want %d over HTTP/2", host, resp.Proto, resp.Status, want)
		}
	}
}

func TestAdminHandler(t *testing.T) {
	env := newProxyEnv(t, "")
	why := "policy not loaded yet"
	h := adminHandler(env.reg, env.e.reporter.ring, func() string { return why }, env.e.log)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/ready"); code != 503 || !strings.Contains(body, why) {
		t.Errorf("/ready before loading: %d %q", code, body)
	}
	why = ""
	if code, _ := get("/ready"); code != 200 {
		t.Errorf("/ready after loading: %d", code)
	}
	if code, _ := get("/live"); code != 200 {
		t.Errorf("/live: %d", code)
	}
	env.setPolicy(t, "api.example.test:443")
	env.rawRoundTrips(t, "GET / HTTP/1.1\r\nHost: denied.example.test\r\n\r\n")
	code, body := get("/debug/decisions")
	var events []Event
	if err := json.Unmarshal([]byte(body), &events); code != 200 || err != nil || len(events) != 1 || events[0].Host != "denied.example.test" {
		t.Errorf("/debug/decisions: %d %v %q", code, err, body)
	}
	code, body = get("/metrics")
	for _, want := range []string{"egress_policy_targets 1", `egress_policy_reloads_total{result="success"} 1`, `egress_dns_queries_total{result="local"} 0`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestDecisionRing(t *testing.T) {
	r := newDecisionRing(3)
	for i := 0; i < 5; i++ {
		r.Add(Event{Port: uint16(i)})
	}
	var ports []uint16
	for _, ev := range r.Snapshot() {
		ports = append(ports, ev.Port)
	}
	if fmt.Sprint(ports) != "[2 3 4]" {
		t.Errorf("ring holds %v", ports)
	}
	newDecisionRing(0).Add(Event{})
}
