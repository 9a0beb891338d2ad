// Package tunnel joins two TCP connections with splice(2), holding a kernel pipe only while bytes move.
package tunnel

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// maxIdlePipes bounds the pipes kept for reuse; more are closed when returned.
const maxIdlePipes = 64

// pipe is a kernel pipe that splice(2) moves bytes through. It keeps the kernel's default capacity (64 KiB):
// every sidecar on a node runs as the same UID and the kernel caps the pipe pages one UID may hold
// (fs.pipe-user-pages-soft, 64 MiB by default), so large pipes would soon leave all of them with 4 KiB ones.
type pipe struct{ r, w int }

// Pipes hands out pipes to the directions of tunnels that have data to move, and takes them back as soon
// as the data has moved: an idle tunnel holds no pipe.
type Pipes struct{ idle chan *pipe }

func NewPipes() *Pipes { return &Pipes{idle: make(chan *pipe, maxIdlePipes)} }

func (p *Pipes) get() (*pipe, error) {
	select {
	case pp := <-p.idle:
		return pp, nil
	default:
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("creating a pipe for splice: %w", err)
	}
	return &pipe{r: fds[0], w: fds[1]}, nil
}

// put returns an empty pipe for reuse (or closes it when enough are idle); a pipe that may still hold
// bytes must be closed instead, with close.
func (p *Pipes) put(pp *pipe) {
	select {
	case p.idle <- pp:
	default:
		pp.close()
	}
}

func (pp *pipe) close() {
	unix.Close(pp.r)
	unix.Close(pp.w)
}
