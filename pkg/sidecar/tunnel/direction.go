package tunnel

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"egress.io/egress/pkg/sidecar/rawio"
)

// idleAfter is how long a direction waits for bytes in Go's poller, holding its goroutine, before it is
// parked: busy tunnels never pay for parking, idle ones soon stop holding a goroutine.
const idleAfter = 100 * time.Millisecond

type dirState int

const (
	running dirState = iota
	parked
	ended
)

// direction moves one way of a tunnel, src to dst, with splice(2).
type direction struct {
	t              *Tunnel
	src, dst       *net.TCPConn
	srcRaw, dstRaw syscall.RawConn
	count          func(int64)
	deadline       time.Time // src's read deadline, moved on at most every idleAfter/2

	mu         sync.Mutex
	state      dirState
	closing    bool   // the tunnel is being closed: do not park
	token      uint64 // in the parker
	registered bool   // src is in the parker's epoll set
}

func newDirection(t *Tunnel, src, dst *net.TCPConn, count func(int64)) (*direction, error) {
	srcRaw, err := src.SyscallConn()
	if err != nil {
		return nil, err
	}
	dstRaw, err := dst.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &direction{t: t, src: src, dst: dst, srcRaw: srcRaw, dstRaw: dstRaw, count: count}, nil
}

// run moves bytes until src's EOF or an error, parking the direction whenever src stays idle for
// idleAfter; a parked direction returns and runs again (resume) when src is readable.
func (d *direction) run() {
	for {
		now := time.Now()
		if d.deadline.Sub(now) < idleAfter/2 {
			d.deadline = now.Add(idleAfter)
			d.src.SetReadDeadline(d.deadline)
		}
		n, err := spliceOnce(d.t.joiner.pipes, d.src, d.dst, d.srcRaw, d.dstRaw)
		if n > 0 {
			d.count(n)
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if d.park() {
				return
			}
		case err != nil:
			d.end(err)
			return
		case n == 0:
			d.end(nil) // EOF
			return
		}
	}
}

// park hands d to the parker unless the tunnel is closing; it reports whether it did.
func (d *direction) park() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return false
	}
	d.deadline = time.Time{}
	d.src.SetReadDeadline(time.Time{})
	d.state = parked
	if err := d.t.joiner.parker.park(d); err != nil {
		// Without the parker, wait in Go's poller with no deadline: the tunnel works, it only costs
		// its goroutine while idle.
		d.state = running
		d.deadline = time.Now().Add(24 * time.Hour)
		d.src.SetReadDeadline(time.Time{})
		return false
	}
	return true
}

// resume runs a parked direction again, unless the tunnel was closed meanwhile.
func (d *direction) resume(token uint64) {
	d.mu.Lock()
	if d.state != parked || d.token != token {
		d.mu.Unlock()
		return
	}
	d.state = running
	d.mu.Unlock()
	d.run()
}

// end marks a running direction ended and tells the tunnel.
func (d *direction) end(err error) {
	d.mu.Lock()
	d.state = ended
	d.mu.Unlock()
	d.t.ended(d, err)
}

// spliceOnce moves what src has now (up to one pipe's worth) to dst: it waits in Go's poller for src to be
// readable until src's read deadline, holding no pipe, takes one only once bytes can be moved and gives it
// back when they have all reached dst, so idle tunnels hold no pipes. It returns 0 and no error at EOF.
func spliceOnce(pipes *Pipes, src, dst *net.TCPConn, srcRaw, dstRaw syscall.RawConn) (int64, error) {
	var p *pipe
	var n int64
	var spliceErr error
	readErr := srcRaw.Read(func(fd uintptr) bool {
		if p == nil {
			if p, spliceErr = pipes.get(); spliceErr != nil {
				return true
			}
		}
		n, spliceErr = rawio.Splice(int(fd), p.w, maxSpliceBytes, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		if spliceErr == unix.EAGAIN {
			// Nothing to read yet: give the pipe back before waiting.
			pipes.put(p)
			p = nil
			return false
		}
		return true
	})
	if readErr != nil || spliceErr != nil || n == 0 {
		if p != nil {
			pipes.put(p)
		}
		if errors.Is(readErr, os.ErrDeadlineExceeded) {
			return 0, readErr
		}
		if err := errors.Join(readErr, spliceErr); err != nil {
			return 0, fmt.Errorf("splicing from %s: %w", src.RemoteAddr(), err)
		}
		return 0, nil // EOF
	}
	if err := drainPipe(p, dstRaw, n); err != nil {
		p.close() // it may still hold bytes
		return 0, fmt.Errorf("splicing to %s: %w", dst.RemoteAddr(), err)
	}
	pipes.put(p)
	return n, nil
}
