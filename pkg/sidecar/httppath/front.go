package httppath

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/http/httpguts"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/record"
)

// Reasons of HTTP refusals that come before any policy decision.
const (
	reasonBadRequest    = "bad_request"    // no usable Host, or an absolute URI that disagrees with it
	reasonConnectMethod = "connect_method" // CONNECT: the sidecar is transparent, not a forward proxy
)

// statusClientClosed is recorded for requests whose client went away before a response (nginx's 499).
const statusClientClosed = 499

// clientBufferSize is the size of an app connection's read and write buffers.
const clientBufferSize = 4 << 10

// maxDiscard bounds the request body read and thrown away to keep a connection whose request was not
// forwarded (a denial); a longer body closes the connection instead.
const maxDiscard = 256 << 10

// clientConn is one app connection on the HTTP/1.x path.
type clientConn struct {
	conn net.Conn
	orig netip.AddrPort
	head headLimit
	raw  syscall.RawConn // for waiting without a buffer; nil when conn has no socket
	br   *bufio.Reader   // while a burst is served
	bw   *bufio.Writer
	idle atomic.Bool // waiting for the next request (Shutdown may close it)
	done chan bool   // a burst's result
	// busy: the app sent this burst's request within busyWait of the last answer, so the worker waits
	// for the next one on the connection (an app that sends one request and idles costs no worker).
	busy bool
}

// headLimit bounds what is read from the app while a request head is read; -1 is no bound.
type headLimit struct {
	r    io.Reader
	left int
}

var errHeadTooLarge = errors.New("request header too large")

func (h *headLimit) Read(p []byte) (int, error) {
	if h.left == 0 {
		return 0, errHeadTooLarge
	}
	if h.left > 0 && len(p) > h.left {
		p = p[:h.left]
	}
	n, err := h.r.Read(p)
	if h.left > 0 {
		h.left -= n
	}
	return n, err
}

// serveHTTP1 reads requests from an app connection and answers each, until the connection or the app is
// done, the connection cannot carry another request, or Shutdown.
//
// An idle keep-alive connection costs little: this goroutine waits for the app's next bytes holding no
// buffers and on a small stack, and each burst of requests is served by one of the path's workers, whose
// stacks have grown to what serving takes, with buffers from pools.
func (p *Path) serveHTTP1(ctx context.Context, c net.Conn, orig netip.AddrPort) {
	cc := &clientConn{conn: c, orig: orig, head: headLimit{r: c, left: -1}, done: make(chan bool, 1)}
	if sc, ok := c.(syscall.Conn); ok {
		cc.raw, _ = sc.SyscallConn()
	}
	if !p.track(cc) {
		c.Close()
		return
	}
	defer func() {
		p.untrack(cc)
		c.Close()
	}()
	wait := readHeaderTimeout
	var answered time.Time
	for {
		cc.idle.Store(true)
		if p.shuttingDown() || !cc.waitReadable(p.opts.Now().Add(wait)) {
			return
		}
		cc.idle.Store(false)
		now := p.opts.Now()
		cc.busy = !answered.IsZero() && now.Sub(answered) < busyWait
		answered = now
		p.workers.run(burst{ctx: ctx, cc: cc, serve: p.serveBurst})
		if !<-cc.done {
			return
		}
		answered = p.opts.Now()
		wait = p.opts.IdleTimeout
	}
}

// serveBurst serves requests while the app has sent more, and reports whether the connection can carry
// another request once it does.
func (p *Path) serveBurst(ctx context.Context, cc *clientConn) bool {
	cc.acquireBuffers()
	defer cc.releaseBuffers()
	for {
		cc.conn.SetReadDeadline(p.opts.Now().Add(readHeaderTimeout))
		cc.head.left = maxHeaderBytes
		hosts, absolute, err := absoluteFormHosts(cc.br)
		var req *http.Request
		if err == nil {
			req, err = http.ReadRequest(cc.br)
		}
		cc.head.left = -1
		if err != nil {
			p.badRequest(ctx, cc, err)
			return false
		}
		cc.conn.SetReadDeadline(time.Time{})
		if !absolute {
			hosts = []string{req.Host}
		}
		if !p.serveRequest(ctx, cc, req, hosts) {
			return false
		}
		if cc.br.Buffered() == 0 && (!cc.busy || p.closing.Load() || !cc.waitNext(p.opts.Now().Add(busyWait))) {
			return true // nothing more yet: wait without the buffers
		}
	}
}

// busyWait is how long a worker that has answered waits for the app's next request on a busy connection
// (one whose last request came within busyWait of the answer before it) before it hands the connection back
// to wait without buffers. An app under load sends it within this, and it is served without waking two more
// goroutines (the connection's, then a worker again) and the threads they run on; an app that pauses costs
// a worker for at most this long.
const busyWait = 20 * time.Millisecond

// waitNext waits until the app has sent more, the deadline passes or the connection fails, and reports
// whether there is something to read. It leaves the read deadline set: the head's read sets its own.
func (cc *clientConn) waitNext(deadline time.Time) bool {
	if cc.raw == nil {
		return false
	}
	cc.conn.SetReadDeadline(deadline)
	return cc.peekReadable()
}

// waitReadable waits until the app has sent something, or the deadline passes, holding no buffer.
func (cc *clientConn) waitReadable(deadline time.Time) bool {
	cc.conn.SetReadDeadline(deadline)
	defer cc.conn.SetReadDeadline(time.Time{})
	if r, ok := cc.conn.(interface{ Buffered() int }); ok && r.Buffered() > 0 {
		return true // bytes the sniffer read, to replay
	}
	if cc.raw == nil {
		var b [1]byte
		n, err := cc.conn.Read(b[:0])
		return n == 0 && err == nil
	}
	return cc.peekReadable()
}

// peekReadable waits, until the read deadline, for the app's next bytes without reading them, and reports
// whether there are some (false at the end of the connection, on an error or at the deadline).
func (cc *clientConn) peekReadable() bool {
	// The first call peeks, as the app may have sent its next request already (RawConn.Read forgets a
	// readiness the poller reported before it was called); when nothing is there the goroutine parks until
	// the poller reports the socket readable, and the second call confirms it without another system call:
	// the read that follows takes the bytes (or the end of the connection).
	first := true
	readable := false
	err := cc.raw.Read(func(fd uintptr) bool {
		if !first {
			readable = true
			return true
		}
		first = false
		var b [1]byte
		n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		if errno == syscall.EAGAIN {
			return false
		}
		readable = errno == 0 && n > 0
		return true
	})
	return err == nil && readable
}

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, clientBufferSize) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, clientBufferSize) }}
)

// acquireBuffers takes the connection's read and write buffers from the pools.
func (cc *clientConn) acquireBuffers() {
	cc.br = readers.Get().(*bufio.Reader)
	cc.br.Reset(&cc.head)
	cc.bw = writers.Get().(*bufio.Writer)
	cc.bw.Reset(cc.conn)
}

// releaseBuffers returns the buffers, unless the reader still holds bytes of the app's (then the
// connection is being closed anyway).
func (cc *clientConn) releaseBuffers() {
	if cc.br.Buffered() == 0 {
		cc.br.Reset(nil)
		readers.Put(cc.br)
	}
	cc.bw.Reset(nil)
	writers.Put(cc.bw)
	cc.br, cc.bw = nil, nil
}

// badRequest answers a request head that does not parse, unless the app went away or was too slow.
func (p *Path) badRequest(ctx context.Context, cc *clientConn, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
		return
	}
	status, msg := http.StatusBadRequest, "malformed request: "+err.Error()
	if errors.Is(err, errHeadTooLarge) {
		status, msg = http.StatusRequestHeaderFieldsTooLarge, "request header larger than 1 MiB"
	}
	p.refuse(ctx, cc, nil, "", status, reasonBadRequest, msg)
}

// serveRequest decides one request and answers it, and reports whether the connection can carry another.
// hosts are the request head's Host header values.
func (p *Path) serveRequest(ctx context.Context, cc *clientConn, req *http.Request, hosts []string) bool {
	start := p.opts.Now()
	if req.Method == http.MethodConnect {
		return p.refuse(ctx, cc, req, req.Host, http.StatusMethodNotAllowed, reasonConnectMethod,
			"CONNECT is not supported: egress is transparent, connect to the destination directly")
	}
	host, err := requestHost(req, hosts)
	if err != nil {
		return p.refuse(ctx, cc, req, req.Host, http.StatusBadRequest, reasonBadRequest, err.Error())
	}
	rreq := routeRequest(req)
	dec, err := p.decideRequest(ctx, host, cc.orig.Port(), rreq)
	if err != nil {
		return p.refuse(ctx, cc, req, host, http.StatusBadRequest, reasonBadRequest, "Host: "+err.Error())
	}
	authority := dec.target.Authority()
	if !dec.v.Allowed() {
		header, body := denialText(dec.v, authority, rreq)
		if bk := dec.v.Backend; bk != nil {
			return p.toBackend(ctx, cc, req, dec, host, header, start)
		}
		keep := consumeBody(req) && !req.Close
		writeOwn(cc.bw, req, http.StatusForbidden, headerDenied, header, body, !keep)
		dec.host.Request(http.StatusForbidden, policy.Deny, dec.route)
		return cc.bw.Flush() == nil && keep
	}
	if dec.v.Err != nil {
		keep := p.failed(cc, req, dec, authority, dec.v.Err)
		return keep
	}
	return p.forward(ctx, cc, req, dec, start)
}

// requestHost returns where a request says it goes: the authority of an absolute URI (which must agree with
// the Host header), else the Host header. hosts are the head's Host header values (http.ReadRequest has
// already refused more than one).
func requestHost(req *http.Request, hosts []string) (string, error) {
	if isAbsoluteForm(req) {
		if err := checkAbsoluteForm(req, hosts); err != nil {
			return "", err
		}
		return req.URL.Host, nil
	}
	switch {
	case len(hosts) == 0 || hosts[0] == "":
		return "", errors.New("no Host header")
	case !httpguts.ValidHostHeader(hosts[0]):
		return "", errors.New("malformed Host header")
	}
	return hosts[0], nil
}

// failed answers a request whose allowed destination could not be reached (502, or 504 for timeouts), and
// reports whether the connection can carry another request.
func (p *Path) failed(cc *clientConn, req *http.Request, dec decided, authority string, err error) bool {
	reason := reasonOf(err)
	status := failureStatus(reason)
	p.opts.Metrics.UpstreamError(dec.host.Label(), reason)
	p.logUpstreamError(dec, reason, err)
	header, body := failureText(reason, authority, err)
	keep := consumeBody(req) && !req.Close
	writeOwn(cc.bw, req, status, headerError, header, body, !keep)
	dec.host.Request(status, dec.v.Action, dec.route)
	return cc.bw.Flush() == nil && keep
}

// Headers a denied request carries to the denied-requests backend.
const (
	headerOriginalHost = "X-Egress-Original-Host"
)

// toBackend forwards a denied plain-HTTP request to the in-cluster backend the policy names instead of
// answering 403: Host is the backend's, the original Host is in X-Egress-Original-Host and the denial in
// X-Egress-Denied. The request stays a denial in the record and the metrics.
func (p *Path) toBackend(ctx context.Context, cc *clientConn, req *http.Request, dec decided, host, denial string, start time.Time) bool {
	bk := dec.v.Backend
	authority := net.JoinHostPort(bk.Name, strconv.Itoa(int(bk.Port)))
	dec.target = requestTarget{Name: bk.Name, Port: bk.Port, Host: authority, authority: authority}
	if bk.Err != nil {
		return p.failed(cc, req, dec, authority, bk.Err)
	}
	dec.v.Dial, dec.v.Route = bk.Dial, nil
	req.Header.Set(headerOriginalHost, host)
	req.Header.Set(headerDenied, denial)
	return p.forward(ctx, cc, req, dec, start)
}

// refuse answers a request refused before any policy decision (bad Host, CONNECT, a head that does not
// parse) and records it; the connection is closed after.
func (p *Path) refuse(ctx context.Context, cc *clientConn, req *http.Request, host string, status int, reason, msg string) bool {
	p.opts.Reporter.Report(ctx, eventRefused(p.opts.Now(), reason, host))
	writeOwn(cc.bw, req, status, headerError, headerValue(reason+"; "+msg), "egress: "+msg+"\n", true)
	cc.bw.Flush()
	p.opts.Metrics.Host("").Request(status, policy.Deny, "")
	return false
}

// consumeBody reads what is left of the body of a request that is answered without being forwarded, so that
// the connection can carry the next request; false when it cannot: the body is too long, fails, or is not
// sent before "100 Continue".
func consumeBody(req *http.Request) bool {
	if req.Body == nil || req.Body == http.NoBody {
		return true
	}
	if expectsContinue(req) {
		return false
	}
	n, err := io.CopyN(io.Discard, req.Body, maxDiscard+1)
	return errors.Is(err, io.EOF) && n <= maxDiscard
}

// expectsContinue reports whether the app waits for "100 Continue" before it sends the body.
func expectsContinue(req *http.Request) bool {
	return req.ContentLength != 0 && httpguts.HeaderValuesContainsToken(req.Header["Expect"], "100-continue")
}

// writeOwn writes a response of the sidecar's own: a short text with an explanation header. close adds
// "Connection: close". A HEAD request gets the head only.
func writeOwn(w *bufio.Writer, req *http.Request, status int, explainHeader, explanation, body string, close bool) {
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(status))
	w.WriteByte(' ')
	w.WriteString(http.StatusText(status))
	w.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n")
	w.WriteString(explainHeader)
	w.WriteString(": ")
	w.WriteString(explanation)
	w.WriteString("\r\nDate: ")
	w.WriteString(time.Now().UTC().Format(http.TimeFormat))
	w.WriteString("\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	if close {
		w.WriteString("\r\nConnection: close")
	}
	w.WriteString("\r\n\r\n")
	if req == nil || req.Method != http.MethodHead {
		w.WriteString(body)
	}
}

// eventRefused is the record of a request refused before any policy decision.
func eventRefused(now time.Time, reason, host string) record.Event {
	return record.Event{Time: now, Decision: policy.Deny.String(), Reason: reason, Protocol: "http", Host: host}
}
