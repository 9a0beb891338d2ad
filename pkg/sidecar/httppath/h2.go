package httppath

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/decide"
)

// h2Front serves HTTP/2 with prior knowledge (h2c): net/http's server decides every stream on its own
// authority, and pooled transports forward it (plain HTTP/1.1, or TLS origination speaking HTTP/2 when the
// upstream offers it, as gRPC needs). A transport dials only what the stream's verdict says.
//
// A Transport pools connections by name and port alone, so each way out (direct, or through one gateway)
// has proxies and transports of its own: a stream routed through a gateway never reuses a direct
// connection, nor the other way round, when a rule set's gateway changes. (Within one way, a connection is
// reused for the name and port it was dialled for whatever the name resolves to now, as any HTTP client
// does; the HTTP/1.x path's own pool also checks the address against the request's verdict.)
type h2Front struct {
	p         *Path
	server    *http.Server
	ln        *connListener
	start     sync.Once
	tlsConfig *tls.Config
	errorLog  *log.Logger

	direct *h2Way
	mu     sync.Mutex
	ways   map[string]*h2Way // by gateway name, made on first use
}

// h2Way is the reverse proxies of one way out: plain HTTP/1.1, and TLS origination.
type h2Way struct {
	plain, origin *httputil.ReverseProxy
	transports    [2]*http.Transport
}

// h2Conn is an h2c connection handed to the server; done is closed when the server closes it.
type h2Conn struct {
	net.Conn
	orig netip.AddrPort
	once sync.Once
	done chan struct{}
}

func (c *h2Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.done) })
	return err
}

// connKey is the request context key of the *h2Conn a stream arrived on; stateKey of its *h2State.
type (
	connKey  struct{}
	stateKey struct{}
)

// h2State is what the reverse proxy's hooks learn about one forwarded stream.
type h2State struct {
	dec    decided
	status int
	app    context.Context // the stream's own context, without the route's timeout
}

func newH2Front(p *Path, tlsConfig *tls.Config) *h2Front {
	f := &h2Front{p: p, ln: newConnListener(), tlsConfig: tlsConfig, ways: map[string]*h2Way{}}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	f.errorLog = slog.NewLogLogger(p.opts.Log.Handler(), slog.LevelDebug)
	f.server = &http.Server{
		Handler:           f,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       p.opts.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		Protocols:         &protocols,
		ErrorLog:          f.errorLog,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	f.direct = f.newWay()
	return f
}

// way returns the proxies of the way out through gateway ("" for direct); a gateway's are made on first
// use.
func (f *h2Front) way(gateway string) *h2Way {
	if gateway == "" {
		return f.direct
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.ways[gateway]
	if w == nil {
		w = f.newWay()
		f.ways[gateway] = w
	}
	return w
}

// newWay makes the proxies of one way out, with transports of their own.
func (f *h2Front) newWay() *h2Way {
	p := f.p
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		st := ctx.Value(stateKey{}).(*h2State)
		return decide.Connect(ctx, st.dec.v, p.opts.ConnectTimeout)
	}
	base := func() *http.Transport {
		return &http.Transport{
			Proxy:                  nil,
			DialContext:            dial,
			MaxIdleConns:           maxIdleConns,
			MaxIdleConnsPerHost:    maxIdleConnsPerHost,
			IdleConnTimeout:        p.opts.IdleTimeout,
			TLSHandshakeTimeout:    p.opts.TLSHandshakeTimeout,
			ResponseHeaderTimeout:  p.opts.ResponseHeaderTimeout,
			ExpectContinueTimeout:  expectContinueTimeout,
			DisableCompression:     true,
			MaxResponseHeaderBytes: maxHeaderBytes,
		}
	}
	plain, origin := base(), base()
	origin.ForceAttemptHTTP2 = true
	origin.TLSClientConfig = f.tlsConfig.Clone()
	proxy := func(t *http.Transport) *httputil.ReverseProxy {
		return &httputil.ReverseProxy{
			Transport:      &retryingTransport{base: t, p: p},
			Rewrite:        f.rewrite,
			FlushInterval:  -1, // every write is a DATA frame the app gets at once
			ErrorLog:       f.errorLog,
			ErrorHandler:   f.upstreamError,
			ModifyResponse: f.modifyResponse,
		}
	}
	return &h2Way{plain: proxy(plain), origin: proxy(origin), transports: [2]*http.Transport{plain, origin}}
}

// serve hands c to the server and waits until the server is done with it.
func (f *h2Front) serve(c net.Conn, orig netip.AddrPort) {
	f.start.Do(func() { go f.server.Serve(f.ln) })
	hc := &h2Conn{Conn: c, orig: orig, done: make(chan struct{})}
	if err := f.ln.Put(hc); err != nil {
		c.Close()
		return
	}
	<-hc.done
}

func (f *h2Front) closeIdle() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range append(slices.Collect(maps.Values(f.ways)), f.direct) {
		for _, t := range w.transports {
			t.CloseIdleConnections()
		}
	}
}

// shutdown stops taking connections and lets open streams finish until ctx is done.
func (f *h2Front) shutdown(ctx context.Context) {
	f.ln.Close()
	f.server.Shutdown(ctx)
	f.server.Close()
}

// ServeHTTP decides one stream and forwards it or refuses it.
func (f *h2Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := f.p
	start := p.opts.Now()
	hc, _ := r.Context().Value(connKey{}).(*h2Conn)
	origPort := uint16(80)
	if hc != nil {
		origPort = hc.orig.Port()
	}
	if r.Method == http.MethodConnect {
		f.refuse(w, r, http.StatusMethodNotAllowed, reasonConnectMethod,
			"CONNECT is not supported: egress is transparent, connect to the destination directly")
		return
	}
	path, _, _ := strings.Cut(r.RequestURI, "?")
	rreq := policy.Request{Method: r.Method, Path: path, Header: r.Header}
	dec, err := p.decideRequest(r.Context(), r.Host, origPort, rreq)
	if err != nil {
		f.refuse(w, r, http.StatusBadRequest, reasonBadRequest, "Host: "+err.Error())
		return
	}
	authority := dec.target.Authority()
	if !dec.v.Allowed() {
		header, body := denialText(dec.v, authority, rreq)
		if dec.v.Backend != nil {
			f.toBackend(w, r, dec, header, start)
			return
		}
		w.Header().Set(headerDenied, header)
		writeText(w, http.StatusForbidden, body)
		dec.host.Request(http.StatusForbidden, dec.v.Action, dec.route)
		return
	}
	if dec.v.Err != nil {
		f.fail(w, dec, authority, dec.v.Err)
		return
	}
	f.forward(w, r, dec, start)
}

// toBackend sends a denied stream to the rule set's deniedBackend instead of the 403, with the app's Host
// and the denial in headers, counted as the denial it is.
func (f *h2Front) toBackend(w http.ResponseWriter, r *http.Request, dec decided, denial string, start time.Time) {
	bk := dec.v.Backend
	authority := net.JoinHostPort(bk.Name, strconv.Itoa(int(bk.Port)))
	dec.target = requestTarget{Name: bk.Name, Port: bk.Port, Host: authority, authority: authority}
	if bk.Err != nil {
		dec.v.Err = bk.Err
		f.fail(w, dec, authority, bk.Err)
		return
	}
	dec.v.Dial, dec.v.Route = bk.Dial, nil
	r.Header.Set(headerOriginalHost, r.Host)
	r.Header.Set(headerDenied, denial)
	f.forward(w, r, dec, start)
}

// forward sends a decided stream to dec.target through the proxy of its kind and counts it.
func (f *h2Front) forward(w http.ResponseWriter, r *http.Request, dec decided, start time.Time) {
	p := f.p
	st := &h2State{dec: dec, app: r.Context()}
	defer func() {
		// Runs when the proxy panics with http.ErrAbortHandler (a body copy failed) too.
		dec.host.Request(st.status, dec.v.Action, dec.route)
		if st.status != statusClientClosed {
			dec.host.Observe(dec.route, p.opts.Now().Sub(start))
		}
	}()
	ctx := r.Context()
	if route := dec.v.Route; route != nil && route.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, start.Add(route.Timeout))
		defer cancel()
	}
	way := f.way(dec.v.Gateway)
	proxy := way.plain
	if dec.target.Originate {
		proxy = way.origin
	}
	proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, stateKey{}, st)))
}

// rewrite points the outbound request at the decided target, keeping the app's Forwarded and X-Forwarded-*
// headers and adding none.
func (f *h2Front) rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(stateKey{}).(*h2State)
	t := st.dec.target
	pr.Out.URL.Scheme = "http"
	if t.Originate {
		pr.Out.URL.Scheme = "https"
	}
	pr.Out.URL.Host = t.Authority()
	pr.Out.Host = t.Host
	for _, name := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v, ok := pr.In.Header[name]; ok {
			pr.Out.Header[name] = v
		}
	}
	if pr.Out.Body != nil && pr.Out.Body != http.NoBody {
		pr.Out.Body = &countingBody{ReadCloser: pr.Out.Body, add: st.dec.host.Sent.Add}
	}
	if strings.EqualFold(pr.Out.Header.Get("Upgrade"), "h2c") {
		pr.Out.Header.Del("Upgrade")
		pr.Out.Header.Del("Connection")
		pr.Out.Header.Del("HTTP2-Settings")
	}
}

// modifyResponse records the status and counts the response body.
func (f *h2Front) modifyResponse(resp *http.Response) error {
	st := resp.Request.Context().Value(stateKey{}).(*h2State)
	st.status = resp.StatusCode
	if resp.StatusCode != http.StatusSwitchingProtocols && resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &countingBody{ReadCloser: resp.Body, add: st.dec.host.Received.Add}
	}
	return nil
}

// upstreamError answers a stream that could not be forwarded with a 502 (504 for timeouts).
func (f *h2Front) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	st := r.Context().Value(stateKey{}).(*h2State)
	if r.Context().Err() != nil {
		route := st.dec.v.Route
		if st.app.Err() != nil || route == nil || route.Timeout <= 0 {
			st.status = statusClientClosed
			return
		}
		// The route's timeout ran out, not the app's patience.
		st.dec.host.Timeout(st.dec.route)
		err = &decide.UpstreamError{Kind: decide.ErrTimeout, Name: st.dec.target.Name,
			Err: fmt.Errorf("route %s allows %v for the request", route.Name, route.Timeout)}
	}
	st.status = f.fail(w, st.dec, st.dec.target.Authority(), err)
}

// fail writes the answer to an upstream failure and returns its status.
func (f *h2Front) fail(w http.ResponseWriter, dec decided, authority string, err error) int {
	reason := reasonOf(err)
	status := failureStatus(reason)
	f.p.opts.Metrics.UpstreamError(dec.host.Label(), reason)
	f.p.logUpstreamError(dec, reason, err)
	header, body := failureText(reason, authority, err)
	w.Header().Set(headerError, header)
	writeText(w, status, body)
	if dec.v.Err != nil {
		dec.host.Request(status, dec.v.Action, dec.route)
	}
	return status
}

// refuse answers a stream refused before any policy decision (bad authority, CONNECT).
func (f *h2Front) refuse(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	f.p.opts.Reporter.Report(r.Context(), eventRefused(f.p.opts.Now(), reason, r.Host))
	w.Header().Set(headerError, headerValue(reason+"; "+msg))
	writeText(w, status, "egress: "+msg+"\n")
	f.p.opts.Metrics.Host("").Request(status, policy.Deny, "")
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

// retryingTransport carries out a stream's route retries on the h2c front: as on the HTTP/1 path, a
// request safe to repeat (its body, if any, small enough to keep) is sent again after a failure worth it,
// within the attempts, the timeout and the host's retry budget.
type retryingTransport struct {
	base http.RoundTripper
	p    *Path
}

func (t *retryingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	st := r.Context().Value(stateKey{}).(*h2State)
	route := st.dec.v.Route
	if route == nil || route.Retries == 0 || !retryEligible(r) {
		return t.base.RoundTrip(r)
	}
	body, retries := keepBody(r, route.Retries)
	t.p.budget.request(st.dec.host.Label())
	deadline, hasDeadline := r.Context().Deadline()
	for attempt := 0; ; attempt++ {
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := t.base.RoundTrip(r)
		reason, wait, retry := "", time.Duration(0), false
		switch {
		case err != nil:
			reason, retry = retryForError(err)
		default:
			remaining := time.Duration(0)
			if hasDeadline {
				remaining = max(time.Until(deadline), time.Nanosecond)
			}
			reason, wait, retry = retryForResponse(resp, remaining, time.Now())
		}
		if !retry || attempt >= retries {
			return resp, err
		}
		wait = max(wait, backoff(route.Backoff, attempt+1, randomInt64N))
		if hasDeadline && time.Now().Add(wait).After(deadline) {
			return resp, err
		}
		if !t.p.budget.allow(st.dec.host.Label()) {
			st.dec.host.RetryBudgetExhausted(st.dec.route)
			return resp, err
		}
		st.dec.host.Retry(st.dec.route, reason)
		if resp != nil {
			discardResponse(resp)
		}
		select {
		case <-time.After(wait):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
}
