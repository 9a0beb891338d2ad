package sidecar

import (
	"errors"
	"net"
	"net/netip"
	"sync"
)

// capturedConn is an accepted, redirected connection whose first bytes have been read by the sniffer. Read
// replays those bytes before reading from the socket again, so net/http sees the stream from its start.
type capturedConn struct {
	*net.TCPConn
	orig    netip.AddrPort // the original destination the app connected to
	peeked  []byte
	tap     *headTap // set on the HTTP path
	tracker *connTracker
	once    sync.Once
}

// Close closes the socket and stops tracking it for draining.
func (c *capturedConn) Close() error {
	err := c.TCPConn.Close()
	c.once.Do(func() {
		if c.tracker != nil {
			c.tracker.Done(c.TCPConn)
		}
	})
	return err
}

func (c *capturedConn) Read(p []byte) (int, error) {
	var n int
	if len(c.peeked) > 0 {
		n = copy(p, c.peeked)
		c.peeked = c.peeked[n:]
	} else {
		var err error
		n, err = c.TCPConn.Read(p)
		if err != nil && n == 0 {
			return 0, err
		}
	}
	if c.tap != nil {
		c.tap.Observe(p[:n])
	}
	return n, nil
}

// errListenerClosed is returned by connListener.Accept after Close.
var errListenerClosed = errors.New("listener closed")

// connListener is a net.Listener fed with connections by the capture listener's sniffer, so that net/http
// serves exactly the connections sniffed as HTTP.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

// Put hands a connection to the server; it fails once the listener is closed.
func (l *connListener) Put(c net.Conn) error {
	select {
	case l.conns <- c:
		return nil
	case <-l.done:
		return errListenerClosed
	}
}

// Accept returns the next connection handed over with Put.
func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errListenerClosed
	}
}

// Close makes Accept and Put fail.
func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr returns the capture listener's address.
func (l *connListener) Addr() net.Addr { return l.addr }
