package stream

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"egress.io/egress/internal/metricstest"
	"egress.io/egress/internal/testconn"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/policy/policytest"
	"egress.io/egress/pkg/sidecar/addrclass"
	"egress.io/egress/pkg/sidecar/decide"
	"egress.io/egress/pkg/sidecar/dnsproxy"
	"egress.io/egress/pkg/sidecar/record"
	"egress.io/egress/pkg/sidecar/telemetry"
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

type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupAddrs(_ context.Context, name string) ([]netip.Addr, error) {
	if a, ok := r[name]; ok {
		return a, nil
	}
	return nil, &dnsproxy.LookupError{Name: name, Err: dnsproxy.ErrNotFound}
}

type streamEnv struct {
	f        *Forwarder
	policy   atomic.Pointer[policy.Matcher]
	names    *dnsproxy.Cache
	reporter *record.Reporter
	reg      *prometheus.Registry
}

func newStreamEnv(t *testing.T, resolver staticResolver) *streamEnv {
	t.Helper()
	env := &streamEnv{names: dnsproxy.NewCache(0, nil), reg: prometheus.NewRegistry()}
	metrics, err := telemetry.New(env.reg)
	if err != nil {
		t.Fatal(err)
	}
	guard, _ := addrclass.New(addrclass.Config{})
	env.reporter = record.NewReporter(slog.New(slog.DiscardHandler), 16, false)
	env.f, err = New(Options{
		Decider:  &decide.Decider{Policy: env.policy.Load, Resolver: resolver, Guard: guard, Names: env.names},
		Reporter: env.reporter, Metrics: metrics, Labels: telemetry.NewLabels(100), ConnectTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// run forwards a fresh connection as asked, sends msg from the app's side, closes its write half and returns
// what came back.
func (env *streamEnv) run(t *testing.T, ask decide.Ask, peeked, msg string) string {
	t.Helper()
	client, server := testconn.Pair(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		env.f.Forward(context.Background(), server, ask, []byte(peeked))
	}()
	client.Write([]byte(msg))
	client.CloseWrite()
	client.SetDeadline(time.Now().Add(5 * time.Second))
	reply, _ := io.ReadAll(client)
	<-done
	return string(reply)
}

func (env *streamEnv) lastEvent(t *testing.T) record.Event {
	t.Helper()
	events := env.reporter.Recent()
	if len(events) == 0 {
		t.Fatal("no decision recorded")
	}
	return events[len(events)-1]
}

func TestOpaque(t *testing.T) {
	up := echoServer(t)
	p := up.Port()
	env := newStreamEnv(t, nil)
	ask := decide.Ask{Protocol: decide.TCP, Port: p, Dst: up}

	env.policy.Store(policytest.Targets(t, fmt.Sprintf("db.example.test:%d", p)))
	if got := env.run(t, ask, "peeked-", "x"); got != "" {
		t.Errorf("address no target allows: %q", got)
	}
	if ev := env.lastEvent(t); ev.Decision != "deny" || ev.Protocol != "tcp" || ev.Suggestion != up.String() {
		t.Errorf("denial event %+v", ev)
	}

	// The app resolved db.example.test through the DNS proxy to this (loopback) address: the name is
	// allowed, but a name leading into a refused range needs a CIDR target.
	env.names.Record("db.example.test", []netip.Addr{up.Addr()}, time.Minute)
	if got := env.run(t, ask, "peeked-", "x"); got != "" {
		t.Errorf("name resolving to loopback: %q", got)
	}
	if ev := env.lastEvent(t); ev.Reason != decide.ReasonPrivateAddress || ev.Host != "db.example.test" {
		t.Errorf("private-address event %+v", ev)
	}

	env.policy.Store(policytest.Targets(t, fmt.Sprintf("127.0.0.1:%d", p)))
	if got := env.run(t, ask, "peeked-", "x"); got != "echo peeked-x" {
		t.Errorf("allowed by CIDR: %q", got)
	}
	if got := metricstest.Value(t, env.reg, "egress_connections_total", "protocol", "tcp", "decision", "allow", "host", "127.0.0.1", "port", fmt.Sprint(p)); got != 1 {
		t.Errorf("connections metric = %v", got)
	}
	if n := len(env.reporter.Recent()); n != 3 {
		t.Errorf("%d events for 3 connections", n)
	}
}

func TestPassthroughDialsTheName(t *testing.T) {
	up := echoServer(t)
	p := up.Port()
	env := newStreamEnv(t, staticResolver{"api.example.test": {up.Addr()}})
	env.policy.Store(policytest.Targets(t, fmt.Sprintf("api.example.test:%d", p), fmt.Sprintf("127.0.0.1:%d", p)))
	// The app connected to 192.0.2.1, which is unreachable here: the sidecar must go to the name instead.
	orig := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), p)
	if got := env.run(t, decide.Ask{Protocol: decide.TLS, Name: "api.example.test", Port: p, Dst: orig}, "hello-", "x"); got != "echo hello-x" {
		t.Errorf("allowed SNI: %q", got)
	}
	if ev := env.lastEvent(t); ev.Decision != "allow" || ev.IP != "127.0.0.1" {
		t.Errorf("allow event %+v, want the address connected to", ev)
	}
	if got := env.run(t, decide.Ask{Protocol: decide.TLS, Name: "evil.example.test", Port: p, Dst: orig}, "hello-", "x"); got != "" {
		t.Errorf("denied SNI: %q", got)
	}
	if ev := env.lastEvent(t); ev.Decision != "deny" || ev.Host != "evil.example.test" || ev.Protocol != "tls" ||
		ev.Suggestion != fmt.Sprintf("evil.example.test:%d", p) {
		t.Errorf("denial event %+v", ev)
	}
}
