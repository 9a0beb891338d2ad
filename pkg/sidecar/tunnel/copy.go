package tunnel

import (
	"errors"
	"io"
	"net"
	"sync"
)

// JoinConns joins the app's connection and an upstream that is not a plain TCP socket (a tunnel through a
// gateway, TLS inside): like Join, but through user space, since splice(2) needs sockets on both ends, and
// holding two goroutines for as long as it lasts. When both are *net.TCPConn it is Join.
func (j *Joiner) JoinConns(app *net.TCPConn, upstream net.Conn, peeked []byte, sent, received func(int64)) error {
	if up, ok := upstream.(*net.TCPConn); ok {
		return j.Join(app, up, peeked, sent, received)
	}
	defer app.Close()
	defer upstream.Close()
	if len(peeked) > 0 {
		n, err := upstream.Write(peeked)
		sent(int64(n))
		if err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	var upErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		upErr = copyConn(app, upstream, received)
	}()
	appErr := copyConn(upstream, app, sent)
	wg.Wait()
	return errors.Join(appErr, upErr)
}

// halfCloser is a connection whose write half can be closed alone (TCP, TLS).
type halfCloser interface{ CloseWrite() error }

// copyConn moves src to dst until EOF, then closes dst's write half; on an error it closes both.
func copyConn(dst, src net.Conn, count func(int64)) error {
	buf := make([]byte, 32<<10)
	var err error
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			w, werr := dst.Write(buf[:n])
			count(int64(w))
			if werr != nil {
				err = werr
				break
			}
		}
		if rerr != nil {
			if rerr != io.EOF {
				err = rerr
			}
			break
		}
	}
	if err == nil {
		if hc, ok := dst.(halfCloser); ok {
			hc.CloseWrite()
		} else {
			dst.Close()
		}
		return nil
	}
	dst.Close()
	src.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
