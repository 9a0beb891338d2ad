package sidecar

import (
	"errors"
	"io"
	"net"
	"sync"
)

// spliceChunk is how much one direction copies before it reports progress to the byte counter; each chunk
// is still moved by splice(2) (TCPConn.ReadFrom understands an io.LimitedReader over a TCPConn).
const spliceChunk = 1 << 20

// tunnel joins the app's connection and the upstream: first the bytes the sniffer already read go
// upstream, then both directions are copied between the raw *net.TCPConn values, so Linux moves the data
// with splice(2) without copying it through user space. When one side finishes sending (EOF) the other
// side's write half is closed (CloseWrite) and the other direction goes on; an error in either direction
// closes both connections. sent and received count bytes as they are forwarded.
func tunnel(app, upstream *net.TCPConn, peeked []byte, sent, received func(int64)) error {
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
		upErr = copyHalf(app, upstream, received)
	}()
	appErr := copyHalf(upstream, app, sent)
	wg.Wait()
	return errors.Join(appErr, upErr)
}

// copyHalf copies src to dst until EOF, then closes dst's write half. On an error it closes both
// connections, which also ends the other direction.
func copyHalf(dst, src *net.TCPConn, count func(int64)) error {
	for {
		n, err := io.CopyN(dst, src, spliceChunk)
		if n > 0 {
			count(n)
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF):
			dst.CloseWrite()
			return nil
		default:
			dst.Close()
			src.Close()
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
	}
}
