package httppath

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/decide"
	"egress.io/egress/pkg/sidecar/telemetry"
)

// expectContinueTimeout is how long a request with "Expect: 100-continue" waits for the upstream's answer
// before its body is sent anyway (net/http's Transport waits as long).
const expectContinueTimeout = time.Second

// maxAttempts bounds how often a request without a body is sent again after a reused upstream connection
// turned out closed.
const maxAttempts = 3

// bodyCopyWait bounds how long a complete answer waits for the request body's copy to say it is done (the
// upstream answers once it has read the body, often before the copy has said so): only an upstream that
// stopped reading, or an app still sending, holds it up that long.
const bodyCopyWait = 100 * time.Millisecond

// forward sends an allowed request upstream and its response back, and reports whether the app's
// connection can carry another request. A route's timeout bounds the whole request, retries included; its
// retries send the request again after a failure worth it (see retry.go) while nothing has reached the app.
func (p *Path) forward(ctx context.Context, cc *clientConn, req *http.Request, dec decided, start time.Time) bool {
	route := dec.v.Route
	var deadline time.Time
	if route != nil && route.Timeout > 0 {
		deadline = start.Add(route.Timeout)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	retries := 0
	if route != nil && route.Retries > 0 && retryEligible(req) {
		retries = route.Retries
	}
	body, retries := keepBody(req, retries)
	if route != nil && route.Retries > 0 {
		// Only hosts with retries need their requests counted (a mutex and a map look-up per request).
		p.budget.request(dec.host.Label())
	}

	var x exchange
	for attempt := 0; ; attempt++ {
		if body != nil {
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		var check retryCheck
		if attempt < retries {
			check = p.retryCheck(route, dec.host, dec.route, deadline, attempt)
		}
		x = p.attempt(ctx, cc, req, dec, deadline, body != nil, check)
		if x.retryWait < 0 {
			break
		}
		select {
		case <-time.After(x.retryWait):
		case <-ctx.Done():
		}
	}
	switch {
	case x.status == 0 && x.err != nil:
		// Nothing reached the app: answer for the upstream.
		// A route's timeout that ran out (only a request with a route has a deadline here; without one, a
		// timeout is the upstream's own and is answered as such).
		if !deadline.IsZero() && (errors.Is(x.err, context.DeadlineExceeded) || decide.IsTimeout(x.err)) {
			dec.host.Timeout(dec.route)
			x.err = &decide.UpstreamError{Kind: decide.ErrTimeout, Name: dec.target.Name,
				Err: fmt.Errorf("route %s allows %v for the request, retries included", route.Name, route.Timeout)}
		}
		return p.failed(cc, req, dec, dec.target.Authority(), x.err)
	}
	dec.host.Request(x.status, dec.v.Action, dec.route)
	if x.status != statusClientClosed {
		dec.host.Observe(dec.route, p.opts.Now().Sub(start))
	}
	if x.err != nil && x.status != 0 {
		p.logUpstreamError(dec, reasonOf(x.err), x.err)
	}
	return x.keepClient && !p.shuttingDown()
}

// retryCheck is asked, when an attempt failed in a way worth a retry before anything reached the app,
// whether to retry and after how long; wait is the least the upstream asked for (Retry-After).
type retryCheck func(reason string, wait time.Duration) (time.Duration, bool)

// retryCheck returns the check of the attempt numbered attempt (from 0) of a request that may be retried
// after it: the route's backoff, within the route's timeout (deadline) and the host's retry budget.
// (A request that may not be retried has no check: its exchange, and the decision in it, stay on the
// stack.)
func (p *Path) retryCheck(route *policy.Route, host *telemetry.Host, routeLabel string, deadline time.Time, attempt int) retryCheck {
	return func(reason string, wait time.Duration) (time.Duration, bool) {
		wait = max(wait, backoff(route.Backoff, attempt+1, randomInt64N))
		if !deadline.IsZero() && p.opts.Now().Add(wait).After(deadline) {
			return 0, false
		}
		if !p.budget.allow(host.Label()) {
			host.RetryBudgetExhausted(routeLabel)
			return 0, false
		}
		host.Retry(routeLabel, reason)
		return wait, true
	}
}

// attempt sends the request once (again on a fresh connection when a reused one turns out closed) and
// settles both connections. The result's retryWait is >= 0 when the request is to be sent again after it.
func (p *Path) attempt(ctx context.Context, cc *clientConn, req *http.Request, dec decided, deadline time.Time, bodyKept bool, check retryCheck) exchange {
	key := poolKey{name: dec.target.Name, port: dec.target.Port, tls: dec.target.Originate, gateway: dec.v.Gateway}
	for tries := 1; ; tries++ {
		uc, reused, err := p.pool.get(ctx, key, dec.v, replayable(req))
		if dec.v.Gateway != "" {
			switch {
			case err != nil:
				p.opts.Metrics.Gateway(dec.v.Gateway, dec.v.Protocol.String(), telemetry.GatewayResult(decide.FailureReason(err)))
			case !reused:
				p.opts.Metrics.Gateway(dec.v.Gateway, dec.v.Protocol.String(), telemetry.GatewayOK)
			}
		}
		if err != nil {
			x := exchange{err: err, retryWait: -1}
			if reason, ok := retryForError(err); ok && check != nil {
				if wait, ok := check(reason, 0); ok {
					x.retryWait = wait
				}
			}
			return x
		}
		if !deadline.IsZero() {
			uc.conn.SetDeadline(deadline)
		}
		x := exchange{p: p, cc: cc, uc: uc, req: req, dec: dec, check: check, deadline: deadline, bodyKept: bodyKept, retryWait: -1}
		x.run()
		if x.retry && reused && tries < maxAttempts {
			uc.conn.Close()
			continue
		}
		switch {
		case x.released:
		case x.reuseUpstream:
			x.releaseUpstream()
		default:
			uc.conn.Close()
		}
		return x
	}
}

// keepBody reads a request body small enough to be sent again into memory, when retries are possible; a
// longer one (or one the app sends only after "100 Continue") is streamed once, without retries.
func keepBody(req *http.Request, retries int) ([]byte, int) {
	if retries == 0 || req.Body == nil || req.Body == http.NoBody {
		return nil, retries
	}
	if expectsContinue(req) || req.ContentLength > maxRetryBody {
		return nil, 0
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, maxRetryBody+1))
	if err != nil || len(buf) > maxRetryBody {
		req.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
		return nil, 0
	}
	return buf, retries
}

// exchange is one request sent on one upstream connection and its response.
type exchange struct {
	p   *Path
	cc  *clientConn
	uc  *upstreamConn
	req *http.Request
	dec decided

	bodyDone     chan error // the request body's copy, when it runs (started)
	bodyFinished bool       // the copy has ended, with bodyErr
	bodyErr      error
	status       int   // the status the app got (0: nothing written to it yet)
	err          error // what went wrong upstream

	retry         bool // nothing was sent or received that stops the request from being sent again
	reuseUpstream bool
	released      bool          // the upstream connection is back in the pool
	bodySettled   bool          // bodySentWhole is known
	bodySentWhole bool          // the request body (if any) went out whole
	check         retryCheck    // may a failure worth a retry be retried (nil: no)
	bodyKept      bool          // the request body is in memory (small, kept to be sent again)
	deadline      time.Time     // the route's timeout, if any
	retryWait     time.Duration // >= 0: the request goes again after this wait
	keepClient    bool
}

// run does the exchange; its outcome is in x's fields.
func (x *exchange) run() {
	req := x.req
	upgrade := upgradeRequested(req)
	if err := writeRequestHead(x.uc.bw, req, x.dec.target, upgrade); err != nil {
		x.fail(err, true)
		return
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	if !hasBody || expectsContinue(req) {
		if err := x.uc.bw.Flush(); err != nil {
			x.fail(err, !hasBody)
			return
		}
	}
	resp, err := x.firstResponse(hasBody)
	if err != nil {
		x.fail(err, !hasBody)
		if x.status == 0 && x.check != nil && !x.retry {
			if reason, ok := retryForError(err); ok {
				if wait, ok := x.check(reason, 0); ok {
					x.retryWait = wait
				}
			}
		}
		return
	}
	if x.check != nil && x.bodySent() {
		remaining := time.Duration(0)
		if !x.deadline.IsZero() {
			remaining = max(time.Until(x.deadline), time.Nanosecond)
		}
		if reason, wait, ok := retryForResponse(resp, remaining, time.Now()); ok {
			if wait, ok := x.check(reason, wait); ok {
				// The answer goes nowhere: the request is sent again.
				discardResponse(resp)
				x.retryWait = wait
				return
			}
		}
	}
	x.respond(resp, upgrade)
}

// bodySent reports whether the request body (if any) went out whole already, so that the request could be
// sent again. A body kept in memory is waited for a moment (an upstream answers as soon as it has read it,
// often before the copy has said it is done); a body still streaming from the app is not waited for.
func (x *exchange) bodySent() bool {
	if x.bodyDone == nil {
		return x.req.Body == nil || x.req.Body == http.NoBody
	}
	wait := time.Duration(0)
	if x.bodyKept {
		wait = bodyCopyWait
	}
	done, err := x.awaitBody(wait)
	return done && err == nil
}

// awaitBody waits up to d for the request body's copy to end, and says whether it did and how.
func (x *exchange) awaitBody(d time.Duration) (bool, error) {
	if x.bodyFinished {
		return true, x.bodyErr
	}
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case err := <-x.bodyDone:
		x.bodyFinished, x.bodyErr = true, err
		return true, err
	default:
	}
	if timeout == nil {
		return false, nil
	}
	select {
	case err := <-x.bodyDone:
		x.bodyFinished, x.bodyErr = true, err
		return true, err
	case <-timeout:
		return false, nil
	}
}

// discardResponse drops a response that will not be passed on.
func discardResponse(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}

// firstResponse starts the request body (at once, or once the upstream asks for it or stays silent past
// expectContinueTimeout) and returns the upstream's final response, passing 1xx responses on to the app.
func (x *exchange) firstResponse(hasBody bool) (*http.Response, error) {
	if hasBody && !expectsContinue(x.req) {
		x.startBody()
	}
	if hasBody && expectsContinue(x.req) {
		x.uc.conn.SetReadDeadline(time.Now().Add(expectContinueTimeout))
		_, err := x.uc.br.Peek(1)
		x.uc.conn.SetReadDeadline(time.Time{})
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The upstream does not answer: ask the app for the body, as its own client would go on.
			x.cc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := x.cc.bw.Flush(); err != nil {
				return nil, errClientGone
			}
			x.startBody()
		case err != nil:
			return nil, err
		}
	}
	if t := x.p.opts.ResponseHeaderTimeout; t > 0 {
		x.uc.conn.SetReadDeadline(time.Now().Add(t))
		defer x.uc.conn.SetReadDeadline(time.Time{})
	}
	for {
		resp, err := http.ReadResponse(x.uc.br, x.req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		// 100 Continue, 103 Early Hints, ...: the app gets them as they come.
		if err := writeInterim(x.cc.bw, resp); err != nil {
			return nil, errClientGone
		}
		if resp.StatusCode == http.StatusContinue && x.bodyDone == nil && hasBody {
			x.startBody()
		}
	}
}

// startBody copies the request body upstream while the response is awaited (an upstream may answer before
// it has read the whole body).
//
// The copy gets what it needs, not x: a goroutine holding x would move every exchange, and the decision in
// it, to the heap, bodies or not.
func (x *exchange) startBody() {
	done := make(chan error, 1)
	x.bodyDone = done
	req, w, appBuf, host := x.req, x.uc.bw, x.cc.br, x.dec.host
	go func() { done <- sendBody(req, w, appBuf, host) }()
}

// sendBody writes the request body upstream to w in the framing writeRequestHead announced, flushing
// whenever the app has sent nothing more yet (appBuf, the app connection's reader, holds nothing), then the
// trailers.
func sendBody(req *http.Request, w *bufio.Writer, appBuf *bufio.Reader, host *telemetry.Host) error {
	chunked := req.ContentLength < 0
	n, err := copyFlushing(w, req.Body, appBuf, chunked)
	host.Sent.Add(float64(n))
	if err != nil {
		return err
	}
	if chunked {
		w.WriteString("0\r\n")
		writeTrailers(w, req.Trailer)
		w.WriteString("\r\n")
	}
	return w.Flush()
}

// respond writes the upstream's response to the app.
func (x *exchange) respond(resp *http.Response, upgrade bool) {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		x.switchProtocols(resp, upgrade)
		return
	}
	req, w := x.req, x.cc.bw
	// A body the app was never asked for ("Expect: 100-continue" answered at once) is not on the wire: the
	// connection cannot carry another request.
	bodyUnsent := x.bodyDone == nil && req.Body != nil && req.Body != http.NoBody
	clientKeepAlive := !req.Close && req.ProtoAtLeast(1, 1) && !bodyUnsent
	noBody := req.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified
	chunked := !noBody && (resp.ContentLength < 0 || len(resp.Trailer) > 0)
	closeAfter := !clientKeepAlive || chunked && !req.ProtoAtLeast(1, 1)
	writeResponseHead(w, resp, noBody, chunked && req.ProtoAtLeast(1, 1), closeAfter)
	x.status = resp.StatusCode
	if noBody {
		resp.Body.Close()
		x.finish(resp, w.Flush(), nil, closeAfter)
		return
	}
	if x.uc.br.Buffered() == 0 {
		// The body is not here yet: the app gets the head now.
		if err := w.Flush(); err != nil {
			x.finish(resp, err, nil, true)
			return
		}
	}
	n, werr, rerr := copyResponseBody(w, resp.Body, x.uc.br, chunked && req.ProtoAtLeast(1, 1))
	x.dec.host.Received.Add(float64(n))
	resp.Body.Close()
	if werr == nil && rerr == nil {
		if chunked && req.ProtoAtLeast(1, 1) {
			w.WriteString("0\r\n")
			writeTrailers(w, resp.Trailer)
			w.WriteString("\r\n")
		}
		// The upstream's answer is read whole: its connection goes back to the pool before the app gets the
		// last bytes, so that the app's next request finds it.
		x.settleBody()
		if x.bodySentWhole && !resp.Close {
			x.releaseUpstream()
		}
		werr = w.Flush()
	}
	x.finish(resp, werr, rerr, closeAfter || rerr != nil)
}

// releaseUpstream puts the upstream connection, which can carry another request, back in the pool.
func (x *exchange) releaseUpstream() {
	x.uc.conn.SetDeadline(time.Time{})
	x.p.pool.put(x.uc)
	x.released = true
}

// settleBody learns whether the request body went out whole, once the upstream's answer is complete. A
// copy that does not end promptly means the upstream answered before it read the whole body: neither
// connection knows where the body ends now, so both are closed.
func (x *exchange) settleBody() {
	if x.bodySettled {
		return
	}
	x.bodySettled = true
	switch {
	case x.bodyDone != nil:
		done, err := x.awaitBody(bodyCopyWait)
		if !done {
			x.cc.conn.Close()
			x.uc.conn.Close()
			x.bodyErr, x.bodyFinished = <-x.bodyDone, true
		}
		x.bodySentWhole = done && err == nil
	case x.req.Body != nil && x.req.Body != http.NoBody:
		x.bodySentWhole = false // never asked for (a final answer to "Expect: 100-continue")
	default:
		x.bodySentWhole = true
	}
}

// finish settles what becomes of both connections after a response: werr is the app's side failing, rerr
// the upstream's.
func (x *exchange) finish(resp *http.Response, werr, rerr error, closeClient bool) {
	x.settleBody()
	switch {
	case werr != nil:
		x.status = statusClientClosed
	case rerr != nil:
		x.err = rerr
	}
	x.reuseUpstream = werr == nil && rerr == nil && x.bodySentWhole && !resp.Close
	x.keepClient = werr == nil && rerr == nil && !closeClient && (x.bodySentWhole || consumeBody(x.req))
}

// fail records an upstream failure before any response reached the app; retry says the request may be
// sent again on a fresh connection (nothing of it went out that cannot be repeated).
func (x *exchange) fail(err error, replayable bool) {
	if errors.Is(err, errClientGone) {
		x.status = statusClientClosed
		return
	}
	x.err = err
	x.retry = replayable && idempotent(x.req) && connectionClosed(err)
	if x.bodyDone != nil && !x.bodyFinished {
		x.uc.conn.Close()
		x.bodyErr, x.bodyFinished = <-x.bodyDone, true
	}
}

// switchProtocols passes a 101 on and joins both connections (WebSocket and other upgrades).
func (x *exchange) switchProtocols(resp *http.Response, upgrade bool) {
	x.status = resp.StatusCode
	if !upgrade {
		x.err = errors.New("101 Switching Protocols without an upgrade request")
		x.status = 0
		return
	}
	writeResponseHead(x.cc.bw, resp, true, false, false)
	if err := x.cc.bw.Flush(); err != nil {
		x.status = statusClientClosed
		return
	}
	sent, received := joinBuffered(x.cc.conn, x.cc.br, x.uc.conn, x.uc.br)
	x.dec.host.Sent.Add(float64(sent))
	x.dec.host.Received.Add(float64(received))
}

// errClientGone says the app's connection failed while the exchange wrote to it.
var errClientGone = errors.New("the app closed its connection")

// replayable reports whether a request can be sent again on a new connection: idempotent, and nothing of
// it is read from the app after its head.
func replayable(req *http.Request) bool {
	return idempotent(req) && (req.Body == nil || req.Body == http.NoBody)
}

// idempotent reports whether a request may be sent twice: a method that says so, or an idempotency key.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// connectionClosed reports whether err says the upstream had closed the connection before answering.
func connectionClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// reasonOf classifies an upstream failure; a response that ends early is "upstream".
func reasonOf(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return decide.ErrUpstream
	}
	return decide.FailureReason(err)
}

// upgradeRequested reports whether the app asks to switch protocols (WebSocket). An h2c upgrade is not
// forwarded: it would turn the connection into HTTP/2 streams the sidecar no longer decides one by one.
func upgradeRequested(req *http.Request) bool {
	up := req.Header.Get("Upgrade")
	return up != "" && !strings.EqualFold(up, "h2c") && httpguts.HeaderValuesContainsToken(req.Header["Connection"], "upgrade")
}

// logUpstreamError logs a failure to reach an allowed destination.
func (p *Path) logUpstreamError(dec decided, reason string, err error) {
	p.opts.Log.LogAttrs(context.Background(), slog.LevelWarn, "upstream error", slog.String("reason", reason),
		slog.String("protocol", dec.v.Protocol.String()), slog.String("host", dec.target.Name),
		slog.Int("port", int(dec.target.Port)), slog.String("error", err.Error()))
}

// writeInterim passes a 1xx response on to the app.
func writeInterim(w *bufio.Writer, resp *http.Response) error {
	writeResponseHead(w, resp, true, false, false)
	return w.Flush()
}
