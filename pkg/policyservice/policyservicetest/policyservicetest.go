// Package policyservicetest runs a policy service in the test's process: a hub, a server on a loopback
// port with a throwaway CA, and an authenticator that knows the tokens a test gives it.
package policyservicetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"egress.io/egress/internal/certs"
	"egress.io/egress/pkg/podauth"
	"egress.io/egress/pkg/policyservice"
)

// ServerName is the name in the service's certificate.
const ServerName = "egress-policy.test"

// Auth is an Authenticator over a table of tokens.
type Auth struct {
	mu  sync.Mutex
	ids map[string]podauth.Identity
	err error
}

// Add makes token stand for id.
func (a *Auth) Add(token string, id podauth.Identity) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ids == nil {
		a.ids = map[string]podauth.Identity{}
	}
	a.ids[token] = id
}

// Fail makes every check fail with err (not a refusal) until Fail(nil).
func (a *Auth) Fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.err = err
}

// Review implements policyservice.Authenticator.
func (a *Auth) Review(_ context.Context, token string) (podauth.Identity, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return podauth.Identity{}, a.err
	}
	id, ok := a.ids[token]
	if token == "" {
		return podauth.Identity{}, &podauth.Refused{Reason: "no token"}
	}
	if !ok {
		return podauth.Identity{}, &podauth.Refused{Reason: "invalid bearer token"}
	}
	if !time.Now().Before(id.Expiry) {
		return podauth.Identity{}, &podauth.Refused{Reason: "expired"}
	}
	return id, nil
}

// Service is a running server.
type Service struct {
	Server *policyservice.Server
	// Addr is the loopback address it listens on; URL is https://ServerName:port.
	Addr string
	URL  string
	// RootCAs and CAFile trust its certificate.
	RootCAs *x509.CertPool
	CAFile  string

	opts   policyservice.ServerOptions
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Dial connects to the service whatever address is asked for (its certificate names ServerName).
func (s *Service) Dial(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, s.Addr)
}

// Stop shuts the server down (its streams are asked to reconnect) and waits for Serve to return.
func (s *Service) Stop() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		err = <-s.done
	})
	return err
}

// Start serves opts (TLS is filled in) on a loopback port until the test ends.
func Start(t testing.TB, opts policyservice.ServerOptions) *Service {
	t.Helper()
	dir := t.TempDir()
	ca, err := certs.NewCA(dir, "policy-test-ca", 0)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Server(dir, "server", ServerName, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(kp.Cert, kp.Key)
	if err != nil {
		t.Fatal(err)
	}
	opts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	return start(t, opts, pool, ca.File)
}

// Another starts another replica: a server of its own on another port, with the same options and
// certificate (and a hub of its own when hub is not nil).
func (s *Service) Another(t testing.TB, hub *policyservice.Hub) *Service {
	t.Helper()
	opts := s.opts
	if hub != nil {
		opts.Hub = hub
	}
	return start(t, opts, s.RootCAs, s.CAFile)
}

func start(t testing.TB, opts policyservice.ServerOptions, pool *x509.CertPool, caFile string) *Service {
	t.Helper()
	srv, err := policyservice.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{Server: srv, Addr: ln.Addr().String(), RootCAs: pool, CAFile: caFile, opts: opts, cancel: cancel, done: make(chan error, 1)}
	_, port, _ := net.SplitHostPort(s.Addr)
	s.URL = "https://" + ServerName + ":" + port
	go func() { s.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("policy service: %v", err)
		}
	})
	return s
}
