package policyservice_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"egress.io/egress/pkg/podauth"
	"egress.io/egress/pkg/policyservice"
	"egress.io/egress/pkg/policyservice/policyservicetest"
	"egress.io/egress/pkg/policystream"
)

// stream is a raw client's view of one request.
type stream struct {
	resp *http.Response
	br   *bufio.Reader
	conn *tls.Conn
}

// open sends GET path?query with the token over its own TLS connection and reads the response header.
func open(t *testing.T, svc *policyservicetest.Service, method, path, token string, query url.Values) stream {
	t.Helper()
	conn, err := tls.Dial("tcp", svc.Addr, &tls.Config{RootCAs: svc.RootCAs, ServerName: policyservicetest.ServerName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	u := &url.URL{Scheme: "https", Host: policyservicetest.ServerName, Path: path, RawQuery: query.Encode()}
	req, _ := http.NewRequest(method, u.String(), nil)
	if token != "" {
		podauth.SetBearer(req.Header, token)
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	return stream{resp: resp, br: bufio.NewReader(resp.Body), conn: conn}
}

func (s stream) next(t *testing.T) policystream.Frame {
	t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := s.br.ReadBytes('\n')
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	f, err := policystream.Decode(line)
	if err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	return f
}

func (s stream) body(t *testing.T) string {
	t.Helper()
	b, _ := io.ReadAll(s.resp.Body)
	return string(b)
}

type fixture struct {
	hub  *policyservice.Hub
	auth *policyservicetest.Auth
	svc  *policyservicetest.Service
}

func serve(t *testing.T, opts policyservice.ServerOptions) fixture {
	t.Helper()
	hub, m, _ := newHub(t, time.Millisecond)
	hub.Set(rs("shop", "deps", 1, "api.example:443"))
	hub.Set(rs("bank", "deps", 1, "bank.example:443"))
	hub.Set(rs(global, "dns", 1, "dns.example:53"))
	hub.MarkSynced()
	runHub(t, hub)
	auth := &policyservicetest.Auth{}
	auth.Add("shop-token", podauth.Identity{Namespace: "shop", ServiceAccount: "default", PodName: "checkout-1", PodUID: "u1", Expiry: time.Now().Add(time.Hour)})
	opts.Hub, opts.Auth, opts.Metrics = hub, auth, m
	return fixture{hub: hub, auth: auth, svc: policyservicetest.Start(t, opts)}
}

func TestAStreamDeliversSnapshotsAndHeartbeats(t *testing.T) {
	f := serve(t, policyservice.ServerOptions{Heartbeat: 100 * time.Millisecond})
	s := open(t, f.svc, "GET", policystream.Path, "shop-token", url.Values{"namespace": {"shop"}})
	if s.resp.StatusCode != 200 || s.resp.Header.Get("Content-Type") != policystream.ContentType || s.resp.Header.Get("X-Egress-Pod") != "shop/checkout-1" {
		t.Fatalf("response %s %v", s.resp.Status, s.resp.Header)
	}
	first := s.next(t)
	if first.Type != policystream.Snapshot || first.Namespace != "shop" || first.GlobalNamespace != global || len(first.RuleSets) != 2 ||
		first.RuleSets[0].Namespace != global || first.RuleSets[1].Namespace != "shop" {
		t.Fatalf("first frame %+v", first)
	}
	f.hub.Set(rs("shop", "more", 1, "more.example:443"))
	var second policystream.Frame
	for second = s.next(t); second.Type == policystream.Heartbeat; second = s.next(t) {
	}
	if second.Type != policystream.Snapshot || len(second.RuleSets) != 3 || second.Version == first.Version {
		t.Fatalf("after a change %+v", second)
	}
	if hb := s.next(t); hb.Type != policystream.Heartbeat {
		t.Fatalf("idle stream: %+v, want a heartbeat", hb)
	}
	// A reconnect with the version it has gets one short line instead of the snapshot.
	again := open(t, f.svc, "GET", policystream.Path, "shop-token", url.Values{"version": {second.Version}})
	if fr := again.next(t); fr.Type != policystream.Current || fr.Version != second.Version {
		t.Fatalf("resume: %+v", fr)
	}
	stale := open(t, f.svc, "GET", policystream.Path, "shop-token", url.Values{"version": {first.Version}})
	if fr := stale.next(t); fr.Type != policystream.Snapshot || fr.Version != second.Version {
		t.Fatalf("resume from an old version: %+v", fr)
	}
}

func TestRequestsThatGetNoStream(t *testing.T) {
	f := serve(t, policyservice.ServerOptions{})
	for _, tt := range []struct {
		name, method, path, token string
		query                     url.Values
		code                      int
		body                      string
	}{
		{"no token", "GET", policystream.Path, "", nil, 401, "token refused: no token"},
		{"unknown token", "GET", policystream.Path, "forged", nil, 401, "invalid bearer token"},
		{"another namespace", "GET", policystream.Path, "shop-token", url.Values{"namespace": {"bank"}}, 403,
			"pod shop/checkout-1's, which may read the rule sets of namespace shop (and egress-system), not of bank"},
		{"another path", "GET", "/v1/other", "shop-token", nil, 404, "GET /v1/policy only"},
		{"another method", "POST", policystream.Path, "shop-token", nil, 405, "GET /v1/policy only"},
	} {
		s := open(t, f.svc, tt.method, tt.path, tt.token, tt.query)
		if body := s.body(t); s.resp.StatusCode != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("%s: %s %q, want %d with %q", tt.name, s.resp.Status, body, tt.code, tt.body)
		}
		if tt.code == 401 && s.resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", tt.name)
		}
	}
	// The API server unreachable: the token cannot be checked, which is not a refusal.
	f.auth.Fail(errors.New("TokenReview: connection refused"))
	s := open(t, f.svc, "GET", policystream.Path, "shop-token", nil)
	if body := s.body(t); s.resp.StatusCode != 503 || !strings.Contains(body, "cannot be checked now") || s.resp.Header.Get("Retry-After") == "" {
		t.Errorf("TokenReview failing: %s %q", s.resp.Status, body)
	}
}

func TestNotSyncedAndFullAre503(t *testing.T) {
	hub, _, _ := newHub(t, time.Millisecond)
	auth := &policyservicetest.Auth{}
	auth.Add("t", podauth.Identity{Namespace: "shop", PodName: "p", Expiry: time.Now().Add(time.Hour)})
	svc := policyservicetest.Start(t, policyservice.ServerOptions{Hub: hub, Auth: auth, MaxStreams: 1})
	s := open(t, svc, "GET", policystream.Path, "t", nil)
	if body := s.body(t); s.resp.StatusCode != 503 || !strings.Contains(body, "not synced") {
		t.Errorf("before sync: %s %q", s.resp.Status, body)
	}
	hub.MarkSynced()
	first := open(t, svc, "GET", policystream.Path, "t", nil)
	first.next(t)
	second := open(t, svc, "GET", policystream.Path, "t", nil)
	if body := second.body(t); second.resp.StatusCode != 503 || !strings.Contains(body, "maximum of streams") {
		t.Errorf("over MaxStreams: %s %q", second.resp.Status, body)
	}
}

func TestTheStreamEndsWhenItsTokenExpires(t *testing.T) {
	f := serve(t, policyservice.ServerOptions{})
	f.auth.Add("short", podauth.Identity{Namespace: "shop", PodName: "p", Expiry: time.Now().Add(300 * time.Millisecond)})
	s := open(t, f.svc, "GET", policystream.Path, "short", nil)
	s.next(t)
	if fr := s.next(t); fr.Type != policystream.Reconnect || !strings.Contains(fr.Reason, "token") {
		t.Fatalf("at the token's expiry: %+v", fr)
	}
	if _, err := s.br.ReadByte(); err != io.EOF {
		t.Errorf("after the reconnect frame: %v, want EOF", err)
	}
}

func TestShutdownAsksEveryStreamToReconnect(t *testing.T) {
	f := serve(t, policyservice.ServerOptions{})
	var streams []stream
	for range 3 {
		s := open(t, f.svc, "GET", policystream.Path, "shop-token", nil)
		s.next(t)
		streams = append(streams, s)
	}
	if n := f.svc.Server.Streams(); n != 3 {
		t.Errorf("%d streams, want 3", n)
	}
	if err := f.svc.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, s := range streams {
		if fr := s.next(t); fr.Type != policystream.Reconnect || !strings.Contains(fr.Reason, "shutting down") {
			t.Errorf("at shutdown: %+v", fr)
		}
	}
	if _, err := tls.Dial("tcp", f.svc.Addr, &tls.Config{RootCAs: f.svc.RootCAs, ServerName: policyservicetest.ServerName}); err == nil {
		t.Error("the listener still accepts after shutdown")
	}
}
