package tunnel

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// parker holds the tunnel directions that have nothing to move. Each waits for its source to become
// readable in one epoll instance of its own rather than in a goroutine, so an idle tunnel costs no
// goroutine stack (two goroutines' stacks were about 11 KB of the 16 KB an idle tunnel cost). The epoll
// descriptor is itself waited on in Go's poller, by one goroutine that runs only while a direction is
// parked.
type parker struct {
	ep *os.File // the epoll instance, non-blocking, in Go's poller

	mu      sync.Mutex
	parked  map[uint64]*direction
	next    uint64
	waiting bool // the goroutine that waits on ep runs
}

func newParker() (*parker, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("creating the epoll instance for idle tunnels: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll instance for idle tunnels: %w", err)
	}
	return &parker{ep: os.NewFile(uintptr(fd), "epoll-idle-tunnels"), parked: map[uint64]*direction{}}, nil
}

// park has d wait, without a goroutine, until its source is readable (or closed), then run again. The
// caller holds d.mu and has set d.state to parked.
func (p *parker) park(d *direction) error {
	p.mu.Lock()
	p.next++
	token := p.next
	p.parked[token] = d
	start := !p.waiting
	p.waiting = true
	p.mu.Unlock()
	d.token = token
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(token), Pad: int32(token >> 32)}
	var ctlErr error
	err := d.srcRaw.Control(func(fd uintptr) {
		op := unix.EPOLL_CTL_MOD
		if !d.registered {
			op = unix.EPOLL_CTL_ADD
		}
		ctlErr = p.ctl(op, int(fd), &ev)
		if ctlErr == nil {
			d.registered = true
		}
	})
	if err == nil {
		err = ctlErr
	}
	if start {
		go p.wait()
	}
	if err != nil {
		p.forget(d)
		return fmt.Errorf("parking an idle tunnel: %w", err)
	}
	return nil
}

func (p *parker) ctl(op, fd int, ev *unix.EpollEvent) error {
	raw, err := p.ep.SyscallConn()
	if err != nil {
		return err
	}
	var ctlErr error
	if err := raw.Control(func(ep uintptr) { ctlErr = unix.EpollCtl(int(ep), op, fd, ev) }); err != nil {
		return err
	}
	return ctlErr
}

// forget takes a parked d out of the parker, before its connections are closed. The caller holds d.mu.
func (p *parker) forget(d *direction) {
	p.mu.Lock()
	delete(p.parked, d.token)
	p.mu.Unlock()
	if d.registered {
		d.srcRaw.Control(func(fd uintptr) { p.ctl(unix.EPOLL_CTL_DEL, int(fd), nil) })
		d.registered = false
	}
}

// wait runs the directions whose sources became readable, each in a goroutine of its own, until none is
// parked.
func (p *parker) wait() {
	raw, err := p.ep.SyscallConn()
	if err != nil {
		panic(fmt.Sprintf("tunnel: the epoll instance has no raw connection: %v", err))
	}
	events := make([]unix.EpollEvent, 128)
	for {
		n := 0
		raw.Read(func(ep uintptr) bool {
			var err error
			n, err = unix.EpollWait(int(ep), events, 0)
			return !(n == 0 && (err == nil || err == unix.EINTR || err == unix.EAGAIN))
		})
		p.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			token := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if d, ok := p.parked[token]; ok {
				delete(p.parked, token)
				go d.resume(token)
			}
		}
		if len(p.parked) == 0 {
			p.waiting = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}
