package httppath

import (
	"errors"
	"net"
	"sync"
)

// errListenerClosed is returned by connListener.Accept after Close.
var errListenerClosed = errors.New("listener closed")

// connListener is a net.Listener fed with the h2c connections the capture listener's sniffer found, so that
// net/http serves exactly those.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
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
