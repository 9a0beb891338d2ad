package servicesource

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/podauth"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/policystream"
)

// TokenSource gives the token to present on each connection: *podauth.TokenFile.
type TokenSource interface {
	Token() (string, error)
}

// Options configure a Source.
type Options struct {
	// URL is the service's base URL, https://HOST[:PORT] (required); policystream.Path is appended.
	URL string
	// Namespace is the pod's namespace (required): sent so that a token of another namespace is told so.
	Namespace string
	// GlobalNamespace is the sidecar's --global-namespace; a service that serves another is logged as an
	// error (its global rule sets would not be selected).
	GlobalNamespace string
	// Token is the pod's token (required).
	Token TokenSource
	// CAFile is a PEM bundle of the CAs the service's certificate may chain to, read again for every
	// connection (a rotated CA is picked up). RootCAs, when set, is used instead (tests).
	CAFile  string
	RootCAs *x509.CertPool
	// Dial opens the TCP connection. Default: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Log receives connection events. Default: discard.
	Log *slog.Logger
	// Metrics, when set, receives the source's figures (NewMetrics).
	Metrics *Metrics
	// InitialBackoff and MaxBackoff shape the wait between failed attempts: full jitter over
	// InitialBackoff·2^n, capped at MaxBackoff. Defaults 200 ms and 5 s.
	InitialBackoff, MaxBackoff time.Duration
	// ReconnectJitter bounds the wait before reconnecting after a stream that worked ended, or when the
	// service asks. Default 1 s.
	ReconnectJitter time.Duration
	// ConnectTimeout bounds dialing, the TLS handshake and the response header. Default 10 s.
	ConnectTimeout time.Duration
	// IdleTimeout is how long a stream may stay silent before it is given up. Default
	// policystream.IdleTimeout.
	IdleTimeout time.Duration
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// Source implements policy.Source over the policy service.
type Source struct {
	opts     Options
	endpoint *url.URL
	host     string // host:port to dial
	sessions tls.ClientSessionCache

	mu        sync.Mutex
	state     state
	runCalled bool
}

// state is what the source knows of its stream.
type state struct {
	streaming bool      // a stream is open and has delivered its first frame
	version   string    // the snapshot the sink has
	heard     time.Time // last frame from the service
	lost      time.Time // when the last stream ended or the first attempt failed
	lastErr   error
	attempts  int // failed attempts since the last working stream
	reported  time.Time
}

var _ policy.Source = (*Source)(nil)

// New checks opts; nothing connects until Run.
func New(opts Options) (*Source, error) {
	if opts.Namespace == "" {
		return nil, errors.New("servicesource: Options.Namespace (the pod's namespace) is required")
	}
	if opts.Token == nil {
		return nil, errors.New("servicesource: Options.Token is required")
	}
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("policy service URL %q: %w", opts.URL, err)
	}
	if u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("policy service URL %q: want https://HOST[:PORT]", opts.URL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	if opts.CAFile == "" && opts.RootCAs == nil {
		return nil, errors.New("servicesource: a CA file is required: the service's certificate is not signed by a public CA")
	}
	if opts.Dial == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		opts.Dial = d.DialContext
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	if opts.ReconnectJitter <= 0 {
		opts.ReconnectJitter = time.Second
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = policystream.IdleTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Source{opts: opts, endpoint: u, host: host, sessions: tls.NewLRUClientSessionCache(2)}
	s.opts.Metrics.bind(s)
	return s, nil
}

// Status is what the source knows now.
type Status struct {
	// Streaming is true while a stream is open and current.
	Streaming bool
	// Version is the snapshot the sink has ("" before the first).
	Version string
	// Stale is how long the policy has gone unconfirmed: 0 while streaming or before the first snapshot,
	// else the time since the service was last heard from.
	Stale time.Duration
	// LastError is why the last stream ended or the last attempt failed.
	LastError error
}

// Status returns the source's state.
func (s *Source) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Streaming: s.state.streaming, Version: s.state.version, LastError: s.state.lastErr}
	if !s.state.streaming && s.state.version != "" {
		st.Stale = s.opts.Now().Sub(s.state.heard)
	}
	return st
}

// Detail says, for /ready, how current the policy is: "" while streaming, else why not.
func (s *Source) Detail() string {
	st := s.Status()
	switch {
	case st.Streaming:
		return ""
	case st.Version == "" && st.LastError != nil:
		return fmt.Sprintf("no policy from the policy service yet: %v", st.LastError)
	case st.Version == "":
		return "no policy from the policy service yet"
	case st.LastError != nil:
		return fmt.Sprintf("policy stale for %s (enforcing snapshot %s): policy service: %v", st.Stale.Round(time.Second), st.Version, st.LastError)
	default:
		return fmt.Sprintf("policy stale for %s (enforcing snapshot %s): reconnecting to the policy service", st.Stale.Round(time.Second), st.Version)
	}
}

// Run streams until ctx is done, then returns nil. A Source runs once.
func (s *Source) Run(ctx context.Context, sink policy.Sink) error {
	s.mu.Lock()
	if s.runCalled {
		s.mu.Unlock()
		return errors.New("servicesource: Run called twice")
	}
	s.runCalled = true
	s.state.lost = s.opts.Now()
	s.mu.Unlock()
	for ctx.Err() == nil {
		outcome := s.session(ctx, sink)
		if ctx.Err() != nil {
			return nil
		}
		wait := s.after(outcome, sink)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	return nil
}

// outcome is how a session ended.
type outcome struct {
	err      error
	streamed bool // the stream delivered at least its first frame
	asked    bool // the service asked for the reconnect
}

// after records how a session ended and returns how long to wait before the next.
func (s *Source) after(o outcome, sink policy.Sink) time.Duration {
	now := s.opts.Now()
	s.mu.Lock()
	wasStreaming := s.state.streaming
	s.state.streaming = false
	if wasStreaming {
		s.state.lost = now
	}
	s.state.lastErr = o.err
	if o.streamed || o.asked {
		s.state.attempts = 0
	} else {
		s.state.attempts++
	}
	attempts := s.state.attempts
	// The sink hears of a failure when an outage starts and then every 30 s while it lasts.
	report := !o.asked && (wasStreaming || s.state.reported.IsZero() || now.Sub(s.state.reported) >= 30*time.Second)
	if report {
		s.state.reported = now
	}
	s.mu.Unlock()
	s.opts.Metrics.setStreaming(false)

	switch {
	case o.asked:
		s.opts.Log.Info("policy service asked to reconnect", "reason", errString(o.err))
	case wasStreaming:
		s.opts.Log.Warn("policy stream lost; keeping the last good policy and reconnecting", "error", errString(o.err))
	default:
		s.opts.Log.Warn("policy service not reachable; keeping the last good policy", "error", errString(o.err), "attempt", attempts)
	}
	if report && o.err != nil {
		sink.Failed(fmt.Errorf("policy service %s: %w", s.opts.URL, o.err))
	}
	return jitter(s.ceiling(attempts))
}

// ceiling is the longest wait after attempts failed attempts in a row: ReconnectJitter after a stream that
// worked (0), else InitialBackoff doubled for each further failure, capped at MaxBackoff.
func (s *Source) ceiling(attempts int) time.Duration {
	if attempts == 0 {
		return s.opts.ReconnectJitter
	}
	return min(s.opts.InitialBackoff<<min(attempts-1, 20), s.opts.MaxBackoff)
}

// jitter is full jitter: uniform in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// session connects, streams until the stream ends, and says how it ended.
func (s *Source) session(ctx context.Context, sink policy.Sink) outcome {
	br, conn, err := s.connect(ctx)
	if err != nil {
		s.opts.Metrics.connectResult(err)
		return outcome{err: err}
	}
	s.opts.Metrics.connectResult(nil)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	streamed := false
	for {
		conn.SetReadDeadline(s.opts.Now().Add(s.opts.IdleTimeout))
		line, err := readLine(br, policystream.MaxFrameBytes)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the service closed the stream")
			} else if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				err = fmt.Errorf("nothing heard for %s", s.opts.IdleTimeout)
			}
			return outcome{err: err, streamed: streamed}
		}
		frame, err := policystream.Decode(line)
		if err != nil {
			return outcome{err: err, streamed: streamed}
		}
		switch frame.Type {
		case policystream.Snapshot:
			if err := s.deliver(frame, sink); err != nil {
				return outcome{err: err, streamed: streamed}
			}
		case policystream.Current:
			if frame.Version != s.currentVersion() {
				return outcome{err: fmt.Errorf("the service says %s is current, but this sidecar has %q", frame.Version, s.currentVersion()), streamed: streamed}
			}
		case policystream.Reconnect:
			s.heard()
			return outcome{err: errors.New(frame.Reason), streamed: streamed, asked: true}
		}
		s.heard()
		if !streamed {
			streamed = true
			s.mu.Lock()
			s.state.streaming, s.state.lastErr, s.state.attempts = true, nil, 0
			version := s.state.version
			s.mu.Unlock()
			s.opts.Metrics.setStreaming(true)
			s.opts.Log.Info("policy stream open", "service", s.opts.URL, "version", version, "resumed", frame.Type == policystream.Current)
		}
	}
}

func (s *Source) currentVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.version
}

func (s *Source) heard() {
	now := s.opts.Now()
	s.mu.Lock()
	s.state.heard = now
	s.mu.Unlock()
}

// deliver hands a snapshot to the sink.
func (s *Source) deliver(f policystream.Frame, sink policy.Sink) error {
	if f.Namespace != s.opts.Namespace {
		return fmt.Errorf("the service sent the snapshot of namespace %s to a pod of %s", f.Namespace, s.opts.Namespace)
	}
	if s.opts.GlobalNamespace != "" && f.GlobalNamespace != s.opts.GlobalNamespace {
		s.opts.Log.Error("the policy service's global namespace differs from --global-namespace; its rule sets are not selected",
			"service", f.GlobalNamespace, "sidecar", s.opts.GlobalNamespace)
	}
	sets := make([]v1alpha1.EgressRuleSet, len(f.RuleSets))
	for i, rs := range f.RuleSets {
		sets[i] = rs.Object()
	}
	sink.Update(sets)
	s.mu.Lock()
	s.state.version = f.Version
	s.mu.Unlock()
	s.opts.Metrics.snapshot()
	s.opts.Log.Info("policy snapshot", "version", f.Version, "rule_sets", len(sets))
	return nil
}

// connect dials, handshakes, sends the request and reads the response header. On success the reader is
// positioned at the first frame.
func (s *Source) connect(ctx context.Context) (*bufio.Reader, net.Conn, error) {
	token, err := s.opts.Token.Token()
	if err != nil {
		return nil, nil, err
	}
	roots := s.opts.RootCAs
	if roots == nil {
		pem, err := os.ReadFile(s.opts.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("the policy service's CA: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("the policy service's CA %s: no PEM certificate", s.opts.CAFile)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.ConnectTimeout)
	defer cancel()
	raw, err := s.opts.Dial(cctx, "tcp", s.host)
	if err != nil {
		return nil, nil, err
	}
	deadline, _ := cctx.Deadline()
	raw.SetDeadline(deadline)
	conn := tls.Client(raw, &tls.Config{
		RootCAs: roots, ServerName: s.endpoint.Hostname(), MinVersion: tls.VersionTLS12, ClientSessionCache: s.sessions,
	})
	if err := conn.HandshakeContext(cctx); err != nil {
		raw.Close()
		return nil, nil, err
	}
	q := url.Values{policystream.QueryNamespace: {s.opts.Namespace}}
	if v := s.currentVersion(); v != "" {
		q.Set(policystream.QueryVersion, v)
	}
	u := *s.endpoint
	u.Path, u.RawQuery = policystream.Path, q.Encode()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, u.String(), nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	podauth.SetBearer(req.Header, token)
	req.Header.Set("User-Agent", "egress-sidecar")
	req.Header.Set("Accept", policystream.ContentType)
	req.Close = true
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("sending the request: %w", err)
	}
	br := bufio.NewReaderSize(conn, 4<<10)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		conn.Close()
		return nil, nil, &StatusError{Code: resp.StatusCode, Message: string(bytes.TrimSpace(body))}
	}
	conn.SetDeadline(time.Time{})
	return bufio.NewReaderSize(resp.Body, 4<<10), conn, nil
}

// StatusError is an answer other than 200: 401 (the token refused), 403 (another namespace), 503 (the
// service cannot serve now).
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// readLine reads one line of at most limit bytes, without its newline.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > limit {
			return nil, fmt.Errorf("a frame of more than %d bytes", limit)
		}
		if err == nil {
			if line == nil {
				return bytes.TrimSuffix(chunk, []byte("\n")), nil
			}
			return bytes.TrimSuffix(append(line, chunk...), []byte("\n")), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if len(line)+len(chunk) > 0 && errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		line = append(line, chunk...)
	}
}
