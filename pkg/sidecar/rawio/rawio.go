// Package rawio reads and writes non-blocking sockets without telling the Go scheduler that a system call
// is under way.
//
// A read or write on a non-blocking socket never waits (when it would, it returns EAGAIN and the goroutine
// waits in the poller instead), but on loopback and veth the kernel delivers the packet to the receiver
// inside the writer's call, which can take tens of microseconds on a virtual machine. The scheduler's
// monitor takes the processor away from a goroutine that has been in a system call for 20 µs and hands it
// to another thread, which then has to be woken, spins looking for work and sleeps again (the futex and
// nanosleep calls that made the sidecar's per-request system calls exceed nginx's). Calling read(2) and
// write(2) as raw system calls keeps the goroutine on its processor for the call's few microseconds.
package rawio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is a TCP connection whose Read and Write are raw system calls; everything else is the
// *net.TCPConn's (deadlines, close, half-close, addresses). Deadlines and Close still end a waiting Read
// or Write: the waiting is the poller's.
type Conn struct {
	*net.TCPConn
	raw    syscall.RawConn
	rd, wr op // a Read and a Write may run at once
}

// op is one direction's system call. It is kept with the connection, and its function bound once, so that
// waiting for the socket allocates nothing: a closure made per call escapes through RawConn's Read and
// Write, with its results (three allocations a call, a dozen a proxied request).
type op struct {
	mu    sync.Mutex // held for the whole call: a second Read (or Write) waits for the first
	trap  uintptr
	b     []byte
	n     uintptr
	errno syscall.Errno
	fn    func(fd uintptr) bool // do
}

func (o *op) do(fd uintptr) bool {
	for {
		o.n, _, o.errno = syscall.RawSyscall(o.trap, fd, uintptr(unsafe.Pointer(&o.b[0])), uintptr(len(o.b)))
		if o.errno != syscall.EINTR {
			return o.errno != syscall.EAGAIN
		}
	}
}

// Wrap returns c with raw reads and writes, or c itself when it has no raw connection (or under the race
// detector).
func Wrap(c *net.TCPConn) net.Conn {
	raw, err := c.SyscallConn()
	if err != nil || raceEnabled {
		return c
	}
	rc := &Conn{TCPConn: c, raw: raw}
	rc.rd.trap, rc.rd.fn = syscall.SYS_READ, rc.rd.do
	rc.wr.trap, rc.wr.fn = syscall.SYS_WRITE, rc.wr.do
	return rc
}

// Socket returns the TCP connection.
func (c *Conn) Socket() *net.TCPConn { return c.TCPConn }

func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, err := c.call(false, b)
	if err == nil && n == 0 {
		return 0, io.EOF
	}
	return n, err
}

func (c *Conn) Write(b []byte) (int, error) {
	written := 0
	for written < len(b) {
		n, err := c.call(true, b[written:])
		written += n
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// call makes one read(2) or write(2) of b once the poller reports the socket ready (waiting until then, or
// until the deadline or Close).
func (c *Conn) call(write bool, b []byte) (int, error) {
	o, name := &c.rd, "read"
	if write {
		o, name = &c.wr, "write"
	}
	o.mu.Lock()
	o.b = b
	var err error
	if write {
		err = c.raw.Write(o.fn)
	} else {
		err = c.raw.Read(o.fn)
	}
	n, errno := o.n, o.errno
	o.b = nil
	o.mu.Unlock()
	if err == nil && errno != 0 {
		err = os.NewSyscallError(name, errno)
	}
	if err != nil {
		return 0, &net.OpError{Op: name, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return int(n), nil
}

// Splice moves up to n bytes from in to out with splice(2) (flags as given), as a raw system call; it
// returns EAGAIN when it would wait.
func Splice(in, out int, n int, flags int) (int64, error) {
	for {
		r, _, errno := syscall.RawSyscall6(unix.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), uintptr(flags))
		switch errno {
		case 0:
			return int64(r), nil
		case syscall.EINTR:
			continue
		default:
			return 0, errno
		}
	}
}
