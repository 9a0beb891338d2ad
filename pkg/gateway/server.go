package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"egress.io/egress/pkg/podauth"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/decide"
	"egress.io/egress/pkg/sidecar/telemetry"
	"egress.io/egress/pkg/sidecar/tunnel"
)

// Reviewer checks a pod's token (podauth.Reviewer).
type Reviewer interface {
	Review(ctx context.Context, token string) (podauth.Identity, error)
}

// PodLabeler returns the labels of a token's pod (*PodLabels).
type PodLabeler interface {
	Labels(ctx context.Context, id podauth.Identity) (map[string]string, error)
}

// Options are a Server's dependencies and settings.
type Options struct {
	// Name is this gateway's EgressGateway name: only decisions that name it are served.
	Name string
	// TLS is the server configuration (its certificate for the Service's name).
	TLS *tls.Config
	// Reviewer authenticates tokens (audience Audience); Pods finds their pods' labels; RuleSets holds the
	// rule sets that select the pods' policies.
	Reviewer Reviewer
	Pods     PodLabeler
	RuleSets *RuleSets
	// Decider resolves, applies the address guard and refuses the gateway's own listeners, exactly as in
	// the sidecar; its Policy is not used (each tunnel is decided against its pod's own policy).
	Decider *decide.Decider
	Metrics *Metrics
	Labels  *telemetry.Labels
	Log     *slog.Logger
	// HandshakeTimeout bounds TLS and the CONNECT request; ConnectTimeout one connection attempt to the
	// destination.
	HandshakeTimeout, ConnectTimeout time.Duration
	// DrainTimeout is how long open tunnels may go on once Serve's context is done (default 5s); then they
	// are closed, so a gateway going away (its EgressGateway deleted, a rollout) takes its tunnels with it
	// and sidecars open new ones elsewhere, rather than idle keep-alive tunnels holding it up.
	DrainTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is the gateway: it accepts tunnels from sidecars and serves those their pods' policies route
// through it.
type Server struct {
	opts   Options
	joiner *tunnel.Joiner
	conns  sync.WaitGroup

	mu   sync.Mutex
	open map[net.Conn]struct{}
}

// NewServer checks opts.
func NewServer(opts Options) (*Server, error) {
	if opts.Name == "" || opts.TLS == nil || opts.Reviewer == nil || opts.Pods == nil || opts.RuleSets == nil ||
		opts.Decider == nil || opts.Metrics == nil || opts.Labels == nil {
		return nil, errors.New("gateway: Options.Name, TLS, Reviewer, Pods, RuleSets, Decider, Metrics and Labels are required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 5 * time.Second
	}
	joiner, err := tunnel.NewJoiner()
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return &Server{opts: opts, joiner: joiner, open: map[net.Conn]struct{}{}}, nil
}

// Serve accepts tunnels on ln until ctx is done, then closes ln, lets open tunnels go on for DrainTimeout,
// closes those left and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.drain()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("gateway: accepting: %w", err)
		}
		s.conns.Add(1)
		s.track(c, true)
		go func() {
			defer s.conns.Done()
			defer s.track(c, false)
			s.serveConn(ctx, c.(*net.TCPConn))
		}()
	}
}

// track adds or removes an accepted connection from the set drain closes.
func (s *Server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.open[c] = struct{}{}
	} else {
		delete(s.open, c)
	}
}

// drain waits for the open tunnels for at most DrainTimeout, then closes the rest and waits for them.
func (s *Server) drain() {
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(s.opts.DrainTimeout):
	}
	s.mu.Lock()
	n := len(s.open)
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.opts.Log.Info("closed the tunnels still open after the drain timeout", "tunnels", n)
	<-done
}

// tunnelRequest is one CONNECT as the gateway understood it.
type tunnelRequest struct {
	source   netip.AddrPort
	id       podauth.Identity
	protocol string
	host     string
	port     uint16
	matcher  *policy.Matcher // the pod's policy, once known
}

// serveConn handles one connection from a sidecar: TLS, one CONNECT, the decision, and the tunnel.
func (s *Server) serveConn(ctx context.Context, raw *net.TCPConn) {
	raw.SetDeadline(s.opts.Now().Add(s.opts.HandshakeTimeout))
	tc := tls.Server(raw, s.opts.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		s.opts.Log.Debug("TLS handshake failed", "source", raw.RemoteAddr().String(), "error", err)
		raw.Close()
		return
	}
	br := bufio.NewReaderSize(tc, 4096)
	req, err := http.ReadRequest(br)
	if err != nil {
		s.opts.Log.Debug("no CONNECT request", "source", raw.RemoteAddr().String(), "error", err)
		tc.Close()
		return
	}
	tr := tunnelRequest{source: addrPortOf(raw.RemoteAddr()), protocol: req.Header.Get(HeaderProtocol)}
	if req.Method != http.MethodConnect {
		s.refuse(ctx, tc, tr, http.StatusMethodNotAllowed, ReasonBadRequest, "only CONNECT host:port is served", nil)
		return
	}
	host, portText, err := net.SplitHostPort(req.RequestURI)
	port, perr := strconv.ParseUint(portText, 10, 16)
	if err != nil || perr != nil || port == 0 || host == "" {
		s.refuse(ctx, tc, tr, http.StatusBadRequest, ReasonBadRequest, fmt.Sprintf("CONNECT %q: want host:port", req.RequestURI), nil)
		return
	}
	tr.host, tr.port = host, uint16(port)

	tr.id, err = s.opts.Reviewer.Review(ctx, podauth.Bearer(req.Header))
	if err != nil {
		if errors.Is(err, podauth.ErrRefused) {
			s.refuse(ctx, tc, tr, http.StatusUnauthorized, ReasonTokenRefused, "token refused: "+err.Error(), nil)
		} else {
			s.refuse(ctx, tc, tr, http.StatusServiceUnavailable, ReasonAuthFailed, "the token could not be checked: "+err.Error(), nil)
		}
		return
	}
	labels, err := s.opts.Pods.Labels(ctx, tr.id)
	if err != nil {
		status, reason := http.StatusServiceUnavailable, ReasonAuthFailed
		if errors.Is(err, ErrUnknownPod) {
			status, reason = http.StatusForbidden, ReasonUnknownPod
		}
		s.refuse(ctx, tc, tr, status, reason, err.Error(), nil)
		return
	}
	if !s.opts.RuleSets.Loaded() {
		s.refuse(ctx, tc, tr, http.StatusServiceUnavailable, ReasonPolicyPending, "the gateway has not loaded the rule sets yet", nil)
		return
	}
	m := s.opts.RuleSets.Matcher(tr.id.Namespace, labels)
	tr.matcher = m
	v := s.decide(ctx, m, tr)
	if !v.Forwards() {
		status, reason, text := http.StatusForbidden, v.Reason(), "denied"
		switch {
		case v.Err != nil:
			status, reason, text = http.StatusBadGateway, decide.FailureReason(v.Err), v.Err.Error()
		case v.Allowed() && v.Gateway != s.opts.Name:
			reason = ReasonWrongGateway
			text = fmt.Sprintf("the pod's policy does not send %s through gateway %s", v.TunnelTarget(), s.opts.Name)
			if v.Gateway != "" {
				text = fmt.Sprintf("the pod's policy sends %s through gateway %s, not %s", v.TunnelTarget(), v.Gateway, s.opts.Name)
			}
		case v.SidecarReason != "":
			text = fmt.Sprintf("%s leads to %s (%s), which the address guard refuses", v.TunnelTarget(), v.RefusedAddr, v.AddressClass)
		default:
			text = fmt.Sprintf("no EgressRuleSet of pod %s/%s routes %s through gateway %s (%s)",
				tr.id.Namespace, tr.id.PodName, v.TunnelTarget(), s.opts.Name, reason)
		}
		s.refuse(ctx, tc, tr, status, reason, text, &v)
		return
	}
	dialCtx, cancel := context.WithTimeout(ctx, s.opts.ConnectTimeout*time.Duration(len(v.Dial)))
	up, err := decide.Connect(dialCtx, v, s.opts.ConnectTimeout)
	cancel()
	if err != nil {
		reason := decide.FailureReason(err)
		s.opts.Metrics.upstreamErrors.WithLabelValues(s.opts.Metrics.namespace(tr.id.Namespace), s.hostLabel(m, v), reason).Inc()
		s.refuse(ctx, tc, tr, http.StatusBadGateway, reason, err.Error(), &v)
		return
	}
	upTCP := up.(*net.TCPConn)
	tc.SetDeadline(time.Time{})
	if _, err := io.WriteString(tc, "HTTP/1.1 200 OK\r\n\r\n"); err != nil {
		tc.Close()
		upTCP.Close()
		return
	}
	s.record(ctx, tr, &v, "allow", v.Reason(), http.StatusOK, addrPortOf(upTCP.RemoteAddr()).Addr())
	var peeked []byte
	if br.Buffered() > 0 { // the app's first bytes came right behind the CONNECT
		peeked, _ = br.Peek(br.Buffered())
	}
	s.join(tc, upTCP, peeked, s.opts.Metrics.namespace(tr.id.Namespace), s.hostLabel(m, v))
}

// decide decides the tunnel against the pod's policy, like the sidecar decides TLS on its SNI (or, for an
// address, by a CIDR target): only targets that allow it and name this gateway let it through, and the
// address guard applies to what the name resolves to. Routes restrict HTTP requests, which a tunnel does
// not show the gateway: a host that routes restrict is refused (routes_need_http), as for TLS the app
// speaks itself.
func (s *Server) decide(ctx context.Context, m *policy.Matcher, tr tunnelRequest) decide.Verdict {
	ask := decide.Ask{Protocol: decide.TLS, Name: tr.host, Port: tr.port}
	if a, err := netip.ParseAddr(tr.host); err == nil {
		ask.Dst = netip.AddrPortFrom(a.Unmap(), tr.port)
	}
	// The policy's gateway is checked before anything is resolved: a decision for another gateway (or none)
	// is refused without a lookup.
	d := m.Decide(ask.Name, netip.Addr{}, ask.Port)
	if d.Action == policy.Allow && d.Gateway != s.opts.Name {
		return decide.Verdict{Protocol: decide.TLS, Decision: d}
	}
	v := s.opts.Decider.DecideWith(ctx, m, ask)
	if v.Action != policy.Allow || v.Gateway != s.opts.Name {
		// Audit mode lets nothing through a gateway (what no target allows is denied here), and neither
		// does a CIDR target routed elsewhere.
		if v.Action == policy.Allow {
			return decide.Verdict{Protocol: decide.TLS, Decision: v.Decision}
		}
		v.Action, v.Dial = policy.Deny, nil
	}
	return v
}

// refuse answers a tunnel request with status and reason, records it and closes the connection.
func (s *Server) refuse(ctx context.Context, tc *tls.Conn, tr tunnelRequest, status int, reason, text string, v *decide.Verdict) {
	s.record(ctx, tr, v, "deny", reason, status, netip.Addr{})
	tc.SetWriteDeadline(s.opts.Now().Add(time.Second))
	fmt.Fprintf(tc, "HTTP/1.1 %d %s\r\n%s: %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n",
		status, http.StatusText(status), HeaderReason, reason, len(text)+1, text)
	tc.Close()
}

// record logs the decision (naming the source pod) and counts it.
func (s *Server) record(ctx context.Context, tr tunnelRequest, v *decide.Verdict, decision, reason string, status int, connected netip.Addr) {
	host := tr.host
	label := "" // a request not yet authenticated gets no host label of its choosing
	if v != nil {
		label = s.hostLabel(tr.matcher, *v)
	}
	s.opts.Metrics.tunnels.WithLabelValues(s.opts.Metrics.namespace(tr.id.Namespace), label, decision, reason).Inc()
	level := slog.LevelInfo
	if decision != "allow" {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("decision", decision), slog.String("reason", reason), slog.Int("status", status),
		slog.String("gateway", s.opts.Name),
		slog.String("source_namespace", tr.id.Namespace), slog.String("source_pod", tr.id.PodName),
		slog.String("source", tr.source.String()), slog.String("protocol", tr.protocol),
		slog.String("host", host), slog.Int("port", int(tr.port)),
	}
	if v != nil {
		attrs = append(attrs, slog.String("rule_set", v.RuleSet), slog.String("target", v.Target))
		if v.AddressClass != "" {
			attrs = append(attrs, slog.String("address_class", v.AddressClass))
		}
	}
	if connected.IsValid() {
		attrs = append(attrs, slog.String("ip", connected.String()))
	}
	s.opts.Log.LogAttrs(ctx, level, "gateway "+decision, attrs...)
}

// hostLabel is the bounded host label of a verdict.
func (s *Server) hostLabel(m *policy.Matcher, v decide.Verdict) string {
	return s.opts.Labels.Host(m, v.Name, v.IP)
}

// join carries the tunnel until both directions are done.
func (s *Server) join(app *tls.Conn, up *net.TCPConn, peeked []byte, namespace, host string) {
	s.opts.Metrics.active.Inc()
	defer s.opts.Metrics.active.Dec()
	sent := s.opts.Metrics.bytes.WithLabelValues(namespace, host, telemetry.DirectionSent)
	received := s.opts.Metrics.bytes.WithLabelValues(namespace, host, telemetry.DirectionReceived)
	app.SetDeadline(time.Time{})
	if len(peeked) > 0 {
		n, err := up.Write(peeked)
		sent.Add(float64(n))
		if err != nil {
			app.Close()
			up.Close()
			return
		}
	}
	// JoinConns takes the TCP socket first; here that is the destination, so its "sent" (socket to
	// tunnel) is what the app received, and the other way round.
	err := s.joiner.JoinConns(up, app, nil, func(n int64) { received.Add(float64(n)) }, func(n int64) { sent.Add(float64(n)) })
	if err != nil {
		s.opts.Log.Debug("tunnel ended with an error", "error", err)
	}
}

// addrPortOf returns a TCP address as an AddrPort.
func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
