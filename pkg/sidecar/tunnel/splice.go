package tunnel

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxSpliceBytes is the most one splice(2) call moves: the capacity of a default pipe.
const maxSpliceBytes = 64 << 10

// Join joins the app's connection and the upstream: first the bytes the sniffer already read go
// upstream, then both directions move socket → pipe → socket with splice(2), so the data never passes
// through user space. When one side finishes sending (EOF) the other side's write half is closed
// (CloseWrite) and the other direction goes on; an error in either direction closes both connections. sent
// and received count bytes as they are forwarded.
func Join(pipes *Pipes, app, upstream *net.TCPConn, peeked []byte, sent, received func(int64)) error {
	return join(app, upstream, peeked, sent,
		func() error { return copyHalf(pipes, upstream, app, sent) },
		func() error { return copyHalf(pipes, app, upstream, received) })
}

// join closes both connections when done; it first writes peeked upstream, then runs toUpstream and toApp,
// the two directions, at once, and returns both their errors.
func join(app, upstream net.Conn, peeked []byte, sent func(int64), toUpstream, toApp func() error) error {
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
		upErr = toApp()
	}()
	appErr := toUpstream()
	wg.Wait()
	return errors.Join(appErr, upErr)
}

// copyHalf moves src to dst until EOF, then closes dst's write half. On an error it closes both
// connections, which also ends the other direction.
func copyHalf(pipes *Pipes, dst, src *net.TCPConn, count func(int64)) error {
	err := spliceAll(pipes, dst, src, count)
	switch {
	case err == nil:
		dst.CloseWrite()
		return nil
	case errors.Is(err, net.ErrClosed):
		dst.Close()
		src.Close()
		return nil
	default:
		dst.Close()
		src.Close()
		return err
	}
}

// spliceAll moves bytes from src to dst until src's EOF. It waits for src to be readable holding no pipe,
// takes one from pipes only once bytes can be moved, and returns it when they have all reached dst, so idle
// tunnels hold no pipes (and no pipe memory).
func spliceAll(pipes *Pipes, dst, src *net.TCPConn, count func(int64)) error {
	srcRaw, err := src.SyscallConn()
	if err != nil {
		return err
	}
	dstRaw, err := dst.SyscallConn()
	if err != nil {
		return err
	}
	for {
		var p *pipe
		var n int64
		var spliceErr error
		readErr := srcRaw.Read(func(fd uintptr) bool {
			if p == nil {
				if p, spliceErr = pipes.get(); spliceErr != nil {
					return true
				}
			}
			n, spliceErr = unix.Splice(int(fd), nil, p.w, nil, maxSpliceBytes, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			if spliceErr == unix.EAGAIN {
				// Nothing to read yet: give the pipe back before waiting.
				pipes.put(p)
				p = nil
				return false
			}
			return true
		})
		if err := errors.Join(readErr, spliceErr); err != nil || n == 0 {
			if p != nil {
				pipes.put(p)
			}
			if err != nil {
				return fmt.Errorf("splicing from %s: %w", src.RemoteAddr(), err)
			}
			return nil // EOF
		}
		if err := drainPipe(p, dstRaw, n); err != nil {
			p.close() // it may still hold bytes
			return fmt.Errorf("splicing to %s: %w", dst.RemoteAddr(), err)
		}
		pipes.put(p)
		count(n)
	}
}

// drainPipe moves n bytes from the pipe to the connection, waiting while the connection cannot take more.
func drainPipe(p *pipe, dst syscall.RawConn, n int64) error {
	for n > 0 {
		var m int64
		var spliceErr error
		err := dst.Write(func(fd uintptr) bool {
			m, spliceErr = unix.Splice(p.r, nil, int(fd), nil, int(n), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			return spliceErr != unix.EAGAIN
		})
		if err := errors.Join(err, spliceErr); err != nil {
			return err
		}
		n -= m
	}
	return nil
}
