package sidecar

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"egress.io/egress/pkg/policy"
)

// Reasons of HTTP refusals that come before any policy decision.
const (
	reasonBadRequest    = "bad_request"    // no usable Host, or an absolute URI that disagrees with it
	reasonConnectMethod = "connect_method" // CONNECT: the sidecar is transparent, not a forward proxy
)

// flushLatency bounds how long response bytes the sidecar has may wait in its buffer for more.
const flushLatency = time.Millisecond

// statusClientClosed is recorded for requests whose client went away before a response (nginx's 499).
const statusClientClosed = 499

// connKey is the request context key of the *capturedConn a request arrived on.
type connKey struct{}

// reqKey is the request context key of the *reqState of a forwarded request.
type reqKey struct{}

// reqState is what the reverse proxy's hooks learn about one forwarded request.
type reqState struct {
	target   requestTarget
	decision policy.Decision
	host     string // metric label
	status   int
}

// httpProxy is the HTTP path: every request on a connection is decided on its own Host (or absolute URI),
// then forwarded by one of two pooled reverse proxies: plain HTTP to the named host, or TLS origination
// for NAME.egress.local.
type httpProxy struct {
	e      *engine
	plain  *httputil.ReverseProxy
	origin *httputil.ReverseProxy
	// transports, so a policy change can drop their idle connections
	transports []*http.Transport
}

func newHTTPProxy(e *engine, plain, origin *http.Transport) *httpProxy {
	h := &httpProxy{e: e, transports: []*http.Transport{plain, origin}}
	errorLog := slog.NewLogLogger(e.log.Handler(), slog.LevelDebug)
	buffers := &copyBufferPool{}
	reverseProxy := func(t *http.Transport) *httputil.ReverseProxy {
		return &httputil.ReverseProxy{
			Transport: t,
			Rewrite:   h.rewrite,
			// Headers and body bytes reach the app when they reach the sidecar: what is written stays in
			// the response writer's buffer at most flushLatency, and the headers are flushed then even if
			// the body has not begun. A response that arrives whole is written in one go, with no timer
			// firing (0 held a known-length body back until it was complete; -1 costs a write system call
			// per copied chunk and one for the headers alone). ReverseProxy flushes what may be a stream
			// (unknown length, text/event-stream) after every write anyway.
			FlushInterval:  flushLatency,
			BufferPool:     buffers,
			ErrorLog:       errorLog,
			ErrorHandler:   h.upstreamError,
			ModifyResponse: h.modifyResponse,
		}
	}
	h.plain, h.origin = reverseProxy(plain), reverseProxy(origin)
	return h
}

// CloseIdleConnections drops the pooled upstream connections that are idle.
func (h *httpProxy) CloseIdleConnections() {
	for _, t := range h.transports {
		t.CloseIdleConnections()
	}
}

// ServeHTTP decides one request and forwards it or refuses it.
func (h *httpProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.e.now()
	cc, _ := r.Context().Value(connKey{}).(*capturedConn)
	origPort := uint16(80)
	if cc != nil {
		origPort = cc.orig.Port()
	}
	if r.Method == http.MethodConnect {
		h.refuse(w, r, http.StatusMethodNotAllowed, reasonConnectMethod,
			"CONNECT is not supported: egress is transparent, connect to the destination directly")
		return
	}
	host := r.Host
	if isAbsoluteForm(r) {
		var hosts []string
		found := false
		if cc != nil && cc.tap != nil {
			hosts, found = cc.tap.Lookup(r.Method, r.RequestURI, r.Proto)
		}
		if err := checkAbsoluteForm(r, hosts, found); err != nil {
			h.refuse(w, r, http.StatusBadRequest, reasonBadRequest, err.Error())
			return
		}
		host = r.URL.Host
	}
	target, err := targetForHost(host, origPort, h.e.cfg.LocalSuffix)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, reasonBadRequest, "Host: "+err.Error())
		return
	}

	m := h.e.matcher()
	d := decide(m, target.Name, netip.Addr{}, target.Port)
	// Dial exactly what was decided on: the normalised name (case, trailing dot, IDNA) or the address.
	target.Name = dialName(d, target.Name)
	label := h.e.labels.Host(m, d.Name, d.IP)
	h.e.report(r.Context(), target.Protocol(), d, netip.Addr{})
	if !d.Allowed() {
		header, body := denialText(d)
		w.Header().Set(headerDenied, header)
		writeText(w, http.StatusForbidden, body)
		h.e.metrics.httpRequests.WithLabelValues(label, "403", d.Action.String()).Inc()
		return
	}

	st := &reqState{target: target, decision: d, host: label}
	defer func() {
		// Runs when the proxy panics with http.ErrAbortHandler (a body copy failed) too.
		code := strconv.Itoa(st.status)
		h.e.metrics.httpRequests.WithLabelValues(label, code, st.decision.Action.String()).Inc()
		if st.status != statusClientClosed && st.decision.Allowed() {
			h.e.metrics.httpDuration.WithLabelValues(label).Observe(h.e.now().Sub(start).Seconds())
		}
	}()
	proxy := h.plain
	if target.Originate {
		proxy = h.origin
	}
	proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), reqKey{}, st)))
}

// rewrite points the outbound request at the decided target. The reverse proxy has already removed the
// hop-by-hop headers; the app's own Forwarded and X-Forwarded-* headers are passed on unchanged, and none
// are added (the app's address is nobody's business outside the pod). The upstream request is framed
// anew by the transport, so no framing ambiguity of the app's request (Content-Length against
// Transfer-Encoding) reaches the upstream.
//
// The request body is counted on the outbound request: the server's own request body must stay what
// net/http made it, because net/http answers "Expect: 100-continue" only when the body is read, and then
// only if it still recognises it.
func (h *httpProxy) rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(reqKey{}).(*reqState)
	if pr.Out.Body != nil && pr.Out.Body != http.NoBody {
		pr.Out.Body = &countingBody{ReadCloser: pr.Out.Body, add: h.e.metrics.bytes.WithLabelValues(directionSent, st.host).Add}
	}
	pr.Out.URL.Scheme = "http"
	if st.target.Originate {
		pr.Out.URL.Scheme = "https"
	}
	pr.Out.URL.Host = st.target.Authority()
	pr.Out.Host = st.target.Host
	for _, name := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v, ok := pr.In.Header[name]; ok {
			pr.Out.Header[name] = v
		}
	}
	// An h2c upgrade would turn the connection into HTTP/2 streams the sidecar no longer decides one by
	// one: the request goes on as plain HTTP/1.1 instead. (HTTP/2 with prior knowledge is decided per
	// stream.) WebSocket and other upgrades are forwarded.
	if strings.EqualFold(pr.Out.Header.Get("Upgrade"), "h2c") {
		pr.Out.Header.Del("Upgrade")
		pr.Out.Header.Del("Connection")
		pr.Out.Header.Del("HTTP2-Settings")
	}
}

// modifyResponse records the status and counts the response body.
func (h *httpProxy) modifyResponse(resp *http.Response) error {
	st := resp.Request.Context().Value(reqKey{}).(*reqState)
	st.status = resp.StatusCode
	if resp.StatusCode != http.StatusSwitchingProtocols && resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &countingBody{ReadCloser: resp.Body, add: h.e.metrics.bytes.WithLabelValues(directionReceived, st.host).Add}
	}
	return nil
}

// upstreamError answers a request that could not be forwarded: 403 when the name resolved to a denied
// range, else 502 (504 for timeouts) saying which step failed.
func (h *httpProxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	st := r.Context().Value(reqKey{}).(*reqState)
	if r.Context().Err() != nil {
		st.status = statusClientClosed
		return
	}
	authority := st.target.Authority()
	var refused *refusedAddrError
	if errors.As(err, &refused) {
		h.e.reportRefusal(r.Context(), st.target.Protocol(), reasonPrivateAddress, st.decision, refused.Addr, refused.Suggestion())
		st.decision.Action = policy.Deny
		header, body := refusalText(refused, authority)
		w.Header().Set(headerDenied, header)
		st.status = http.StatusForbidden
		writeText(w, st.status, body)
		return
	}
	reason, status := upstreamFailure(err)
	h.e.metrics.upstreamErrors.WithLabelValues(st.host, reason).Inc()
	h.e.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream error", slog.String("reason", reason),
		slog.String("protocol", st.target.Protocol()), slog.String("host", st.target.Name),
		slog.Int("port", int(st.target.Port)), slog.String("error", err.Error()))
	header, body := failureText(reason, authority, err)
	w.Header().Set(headerError, header)
	st.status = status
	writeText(w, status, body)
}

// refuse answers a request that is refused before any policy decision (bad Host, CONNECT).
func (h *httpProxy) refuse(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	ev := Event{Time: h.e.now(), Decision: policy.Deny.String(), Reason: reason, Protocol: "http", Host: r.Host}
	h.e.reporter.Report(r.Context(), ev)
	w.Header().Set(headerError, headerValue(reason+"; "+msg))
	w.Header().Set("Connection", "close")
	writeText(w, status, "egress: "+msg+"\n")
	h.e.metrics.httpRequests.WithLabelValues("", strconv.Itoa(status), policy.Deny.String()).Inc()
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// countingBody counts the bytes read through it.
type countingBody struct {
	io.ReadCloser
	add func(float64)
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.add(float64(n))
	}
	return n, err
}

// dialName returns what a decision allows to be dialled: its normalised name, else its address; fallback
// when it has neither (a request denied as not ready or invalid is never dialled).
func dialName(d policy.Decision, fallback string) string {
	switch {
	case d.Name != "":
		return d.Name
	case d.IP.IsValid():
		return d.IP.String()
	}
	return fallback
}
