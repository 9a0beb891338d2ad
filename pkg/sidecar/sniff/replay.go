package sniff

import (
	"io"
	"net"

	"egress.io/egress/pkg/sidecar/rawio"
)

// Replay returns c with the bytes Read or More took from it put back: reading it replays them before
// reading the socket again, so the path it is handed to sees the stream from its start.
// Its reads and writes are raw system calls (package rawio).
func Replay(c *net.TCPConn, peeked []byte) net.Conn {
	return &replayConn{TCPConn: c, io: rawio.Wrap(c), peeked: peeked}
}

// replayConn is Replay's connection.
type replayConn struct {
	*net.TCPConn
	io     net.Conn
	peeked []byte
}

func (c *replayConn) Write(p []byte) (int, error) { return c.io.Write(p) }

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.peeked) > 0 {
		n := copy(p, c.peeked)
		c.peeked = c.peeked[n:]
		if len(c.peeked) == 0 {
			c.peeked = nil // not kept for the connection's life
		}
		return n, nil
	}
	return c.io.Read(p)
}

// WriteTo writes the replayed bytes, then the socket's (io.Copy would otherwise use the socket's WriteTo
// and skip them).
func (c *replayConn) WriteTo(w io.Writer) (int64, error) {
	var written int64
	if len(c.peeked) > 0 {
		n, err := w.Write(c.peeked)
		written += int64(n)
		c.peeked = nil
		if err != nil {
			return written, err
		}
	}
	n, err := c.TCPConn.WriteTo(w)
	return written + n, err
}

// Buffered returns how many replayed bytes are left.
func (c *replayConn) Buffered() int { return len(c.peeked) }
