package policyservice

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"egress.io/egress/pkg/podauth"
	"egress.io/egress/pkg/policystream"
)

// Authenticator says which pod a token belongs to: podauth.Reviewer.
type Authenticator interface {
	Review(ctx context.Context, token string) (podauth.Identity, error)
}

// ServerOptions configure a Server.
type ServerOptions struct {
	// Hub holds the snapshots (required).
	Hub *Hub
	// Auth checks the sidecars' tokens (required).
	Auth Authenticator
	// TLS is the serving configuration (required): a certificate the sidecars trust, usually by
	// GetCertificate so that a renewed one is picked up.
	TLS *tls.Config
	// Log receives connection errors (V(1)) and refusals.
	Log logr.Logger
	// Metrics, when set, receives the server's figures.
	Metrics *Metrics
	// Heartbeat is the interval of heartbeats on an idle stream. Default policystream.HeartbeatInterval.
	Heartbeat time.Duration
	// RequestTimeout bounds the TLS handshake, the request and the token check. Default 10s.
	RequestTimeout time.Duration
	// WriteTimeout bounds writing one frame; a sidecar that reads slower than that is dropped (it
	// reconnects and resumes). Default 10s.
	WriteTimeout time.Duration
	// MaxStreams bounds the streams this replica holds; past it new ones get 503 and try another replica.
	// Default 50,000.
	MaxStreams int
}

// Server serves pkg/policystream's protocol: one goroutine per stream, no HTTP library state kept once the
// request is read (see the package policystream's doc for why).
type Server struct {
	opts     ServerOptions
	streams  atomic.Int64
	shutdown chan struct{}
	conns    sync.WaitGroup
}

// NewServer checks opts.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Hub == nil || opts.Auth == nil || opts.TLS == nil {
		return nil, errors.New("policyservice: ServerOptions.Hub, Auth and TLS are required")
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = policystream.HeartbeatInterval
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = 50_000
	}
	return &Server{opts: opts, shutdown: make(chan struct{})}, nil
}

// Streams is the number of streams open now.
func (s *Server) Streams() int { return int(s.streams.Load()) }

// Serve accepts connections on ln until ctx is done, then closes ln, asks every stream's sidecar to
// reconnect (to another replica) and returns once they are closed.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() {
		close(s.shutdown)
		ln.Close()
	})
	defer stop()
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.conns.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				// Out of descriptors or a passing error: wait a little, as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.opts.Log.Error(err, "accepting a policy stream; retrying", "delay", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accepting policy streams: %w", err)
		}
		delay = 0
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			s.handle(ctx, conn)
		}()
	}
}

// bufReaders hold the request's reader only while the request is read.
var bufReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// maxRequestBytes bounds the request line and headers (a token is about 1 KB).
const maxRequestBytes = 64 << 10

// request is what a stream needs from its request.
type request struct {
	id   podauth.Identity
	have string
}

// handle serves one connection: TLS, the request, the token, then the stream.
func (s *Server) handle(ctx context.Context, conn net.Conn) {
	tc := tls.Server(conn, s.opts.TLS)
	req, ok := s.accept(ctx, tc)
	if !ok {
		conn.Close()
		return
	}
	sub, err := s.opts.Hub.Subscribe(req.id.Namespace)
	if err != nil {
		s.reply(tc, http.StatusServiceUnavailable, ResultUnavailable, err.Error())
		conn.Close()
		return
	}
	if n := s.streams.Add(1); n > int64(s.opts.MaxStreams) {
		s.streams.Add(-1)
		s.opts.Hub.Unsubscribe(sub)
		s.reply(tc, http.StatusServiceUnavailable, ResultUnavailable, "this replica holds its maximum of streams; try another")
		conn.Close()
		return
	}
	s.opts.Metrics.request(ResultStreamed)
	s.opts.Metrics.streamOpened()
	end := func() {
		conn.Close()
		s.opts.Hub.Unsubscribe(sub)
		s.streams.Add(-1)
		s.opts.Metrics.streamClosed()
	}
	h := http.Header{}
	h.Set("Content-Type", policystream.ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("Connection", "close")
	h.Set("X-Egress-Pod", req.id.String())
	tc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	var head strings.Builder
	head.WriteString("HTTP/1.1 200 OK\r\n")
	h.Write(&head)
	head.WriteString("\r\n")
	if _, err := io.WriteString(tc, head.String()); err != nil {
		end()
		return
	}
	tc.SetDeadline(time.Time{})
	// The stream, which lives as long as the token, gets a goroutine of its own: this one's stack grew deep
	// through the TLS handshake, the request and the TokenReview, and goes with it.
	s.conns.Add(1)
	go func() {
		defer s.conns.Done()
		defer end()
		s.stream(tc, sub, req)
	}()
}

// accept reads and checks the request; on failure it has answered and returns false.
func (s *Server) accept(ctx context.Context, tc *tls.Conn) (request, bool) {
	deadline := time.Now().Add(s.opts.RequestTimeout)
	tc.SetDeadline(deadline)
	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		s.opts.Metrics.request(ResultBadRequest)
		s.opts.Log.V(1).Info("policy stream: TLS handshake failed", "remote", tc.RemoteAddr().String(), "error", err.Error())
		return request{}, false
	}
	br := bufReaders.Get().(*bufio.Reader)
	br.Reset(io.LimitReader(tc, maxRequestBytes))
	req, err := http.ReadRequest(br)
	br.Reset(nil)
	bufReaders.Put(br)
	if err != nil {
		s.reply(tc, http.StatusBadRequest, ResultBadRequest, "reading the request: "+err.Error())
		return request{}, false
	}
	switch {
	case req.URL.Path != policystream.Path:
		s.reply(tc, http.StatusNotFound, ResultBadRequest, "the policy service serves GET "+policystream.Path+" only")
		return request{}, false
	case req.Method != http.MethodGet:
		s.reply(tc, http.StatusMethodNotAllowed, ResultBadRequest, "the policy service serves GET "+policystream.Path+" only")
		return request{}, false
	case !s.opts.Hub.Synced():
		s.reply(tc, http.StatusServiceUnavailable, ResultUnavailable, ErrNotSynced.Error())
		return request{}, false
	case s.streams.Load() >= int64(s.opts.MaxStreams):
		s.reply(tc, http.StatusServiceUnavailable, ResultUnavailable, "this replica holds its maximum of streams; try another")
		return request{}, false
	}
	id, err := s.opts.Auth.Review(hctx, podauth.Bearer(req.Header))
	if errors.Is(err, podauth.ErrRefused) {
		s.opts.Log.Info("policy stream refused", "remote", tc.RemoteAddr().String(), "reason", err.Error())
		s.reply(tc, http.StatusUnauthorized, ResultRefused, err.Error())
		return request{}, false
	}
	if err != nil {
		s.reply(tc, http.StatusServiceUnavailable, ResultUnavailable, "the token cannot be checked now: "+err.Error())
		return request{}, false
	}
	q := req.URL.Query()
	if ns := q.Get(policystream.QueryNamespace); ns != "" && ns != id.Namespace {
		s.opts.Log.Info("policy stream refused: another namespace asked for", "pod", id.String(), "asked", ns)
		s.reply(tc, http.StatusForbidden, ResultForbidden, fmt.Sprintf(
			"the token is pod %s's, which may read the rule sets of namespace %s (and %s), not of %s",
			id.String(), id.Namespace, s.opts.Hub.GlobalNamespace(), ns))
		return request{}, false
	}
	return request{id: id, have: q.Get(policystream.QueryVersion)}, true
}

// reply writes a complete plain-text answer and counts it.
func (s *Server) reply(tc *tls.Conn, code int, result, body string) {
	s.opts.Metrics.request(result)
	resp := &http.Response{
		StatusCode: code, ProtoMajor: 1, ProtoMinor: 1, Close: true,
		Header:        http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		ContentLength: int64(len(body) + 1),
		Body:          io.NopCloser(strings.NewReader(body + "\n")),
	}
	if code == http.StatusUnauthorized {
		resp.Header.Set("WWW-Authenticate", `Bearer realm="egress policy service"`)
	}
	if code == http.StatusServiceUnavailable {
		resp.Header.Set("Retry-After", strconv.Itoa(1))
	}
	tc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	_ = resp.Write(tc)
}

// Lines written as they are.
var (
	heartbeatLine = mustEncode(policystream.Frame{Type: policystream.Heartbeat})
	expiringLine  = mustEncode(policystream.Frame{Type: policystream.Reconnect, Reason: "the token this stream was opened with expires"})
	shutdownLine  = mustEncode(policystream.Frame{Type: policystream.Reconnect, Reason: "this replica is shutting down"})
)

// stream writes the snapshot (or "current"), then every newer one, heartbeats while idle, and a reconnect
// frame when the token expires or the server shuts down. It returns when a write fails.
func (s *Server) stream(tc *tls.Conn, sub *Subscription, req request) {
	write := func(line []byte, frameType policystream.Type) bool {
		tc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		if _, err := tc.Write(line); err != nil {
			s.opts.Log.V(1).Info("policy stream ended", "pod", req.id.String(), "error", err.Error())
			return false
		}
		s.opts.Metrics.frame(string(frameType))
		return true
	}
	cur := sub.Current()
	sent := cur.Version
	if req.have == cur.Version {
		if !write(mustEncode(policystream.Frame{Type: policystream.Current, Version: cur.Version}), policystream.Current) {
			return
		}
	} else if !write(cur.Line, policystream.Snapshot) {
		return
	}
	// One timer per stream: the next heartbeat, or the token's expiry when that comes first.
	timer := time.NewTimer(s.untilNext(req.id.Expiry))
	defer timer.Stop()
	for {
		select {
		case <-sub.Notify():
			cur := sub.Current()
			if cur.Version == sent {
				continue
			}
			if !write(cur.Line, policystream.Snapshot) {
				return
			}
			sent = cur.Version
			timer.Reset(s.untilNext(req.id.Expiry))
		case <-timer.C:
			if !time.Now().Before(req.id.Expiry) {
				write(expiringLine, policystream.Reconnect)
				return
			}
			if !write(heartbeatLine, policystream.Heartbeat) {
				return
			}
			timer.Reset(s.untilNext(req.id.Expiry))
		case <-s.shutdown:
			write(shutdownLine, policystream.Reconnect)
			return
		}
	}
}

// untilNext is the wait until the next heartbeat, or until expiry when that is sooner.
func (s *Server) untilNext(expiry time.Time) time.Duration {
	return min(s.opts.Heartbeat, time.Until(expiry))
}

func mustEncode(f policystream.Frame) []byte {
	line, err := f.Encode()
	if err != nil {
		panic(err)
	}
	return line
}
