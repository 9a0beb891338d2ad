package tunnel

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"egress.io/egress/pkg/sidecar/rawio"
)

// maxSpliceBytes is the most one splice(2) call moves: the capacity of a default pipe.
const maxSpliceBytes = 64 << 10

// Joiner joins connections: it holds the pipes that splice(2) borrows and the parker that idle tunnel
// directions wait in. One serves a whole process.
type Joiner struct {
	pipes  *Pipes
	parker *parker
}

// NewJoiner returns a Joiner.
func NewJoiner() (*Joiner, error) {
	parker, err := newParker()
	if err != nil {
		return nil, err
	}
	return &Joiner{pipes: NewPipes(), parker: parker}, nil
}

// Tunnel is two TCP connections joined by splice(2). Close ends it at once.
type Tunnel struct {
	joiner  *Joiner
	app, up *net.TCPConn
	sent    func(int64)
	done    func(error)
	dirs    [2]*direction // app → upstream, upstream → app; fixed once made
	badConn error         // why the directions could not be made (Start reports it)

	left      atomic.Int32 // directions not ended
	errMu     sync.Mutex
	errs      []error
	closeOnce sync.Once
}

// Tunnel returns the tunnel that will join the app's connection and the upstream once started; nothing
// moves before Start. sent and received count bytes as they are forwarded; done is called once, when both
// directions have ended and both connections are closed, with their errors.
func (j *Joiner) Tunnel(app, upstream *net.TCPConn, sent, received func(int64), done func(error)) *Tunnel {
	t := &Tunnel{joiner: j, app: app, up: upstream, sent: sent, done: done}
	t.left.Store(2)
	toUp, err := newDirection(t, app, upstream, sent)
	if err == nil {
		var toApp *direction
		if toApp, err = newDirection(t, upstream, app, received); err == nil {
			t.dirs = [2]*direction{toUp, toApp}
		}
	}
	t.badConn = err
	return t
}

// Start joins the two connections: first the bytes the sniffer already read (peeked) go upstream, then
// both directions move socket → pipe → socket with splice(2), so the data never passes through user
// space. When one side finishes sending (EOF) the other side's write half is closed (CloseWrite) and the
// other direction goes on; an error in either direction closes both connections. Start returns at once:
// a direction holds a goroutine only while its source has had bytes within idleAfter, and a pipe only
// while bytes move.
func (t *Tunnel) Start(peeked []byte) {
	if t.badConn != nil {
		t.report(t.badConn)
		return
	}
	if len(peeked) > 0 {
		n, err := t.up.Write(peeked)
		t.sent(int64(n))
		if err != nil {
			t.report(err)
			return
		}
	}
	for _, d := range t.dirs {
		go d.run()
	}
}

// Join starts a tunnel and waits until it ends; it returns both directions' errors.
func (j *Joiner) Join(app, upstream *net.TCPConn, peeked []byte, sent, received func(int64)) error {
	ended := make(chan error, 1)
	j.Tunnel(app, upstream, sent, received, func(err error) { ended <- err }).Start(peeked)
	return <-ended
}

// report closes both connections and calls done with err: once both directions have ended, or at once
// when they never started.
func (t *Tunnel) report(err error) {
	t.app.Close()
	t.up.Close()
	t.done(err)
}

// Close ends the tunnel: parked directions end at once, running ones when their connections close under
// them. done is still called once both have ended.
func (t *Tunnel) Close() error {
	t.closeOnce.Do(func() {
		var endNow []*direction
		for _, d := range t.dirs {
			if d == nil {
				continue
			}
			d.mu.Lock()
			d.closing = true
			if d.state == parked {
				t.joiner.parker.forget(d)
				d.state = ended
				endNow = append(endNow, d)
			}
			d.mu.Unlock()
		}
		t.app.Close()
		t.up.Close()
		for _, d := range endNow {
			t.ended(d, nil)
		}
	})
	return nil
}

// ended records that d has ended with err: at EOF it closes d's destination's write half, on an error it
// closes the tunnel (which ends the other direction too). The last direction to end closes both
// connections and calls done.
func (t *Tunnel) ended(d *direction, err error) {
	switch {
	case err == nil:
		d.dst.CloseWrite()
	case errors.Is(err, net.ErrClosed):
		t.Close()
	default:
		t.errMu.Lock()
		t.errs = append(t.errs, err)
		t.errMu.Unlock()
		t.Close()
	}
	if t.left.Add(-1) > 0 {
		return
	}
	t.errMu.Lock()
	err = errors.Join(t.errs...)
	t.errMu.Unlock()
	t.report(err)
}

// drainPipe moves n bytes from the pipe to the connection, waiting while the connection cannot take more.
func drainPipe(p *pipe, dst syscall.RawConn, n int64) error {
	for n > 0 {
		var m int64
		var spliceErr error
		err := dst.Write(func(fd uintptr) bool {
			m, spliceErr = rawio.Splice(p.r, int(fd), int(n), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			return spliceErr != unix.EAGAIN
		})
		if err := errors.Join(err, spliceErr); err != nil {
			return err
		}
		n -= m
	}
	return nil
}
