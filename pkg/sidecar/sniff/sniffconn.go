package sniff

import (
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// Read reads the first bytes of c until Classify decides, at most maxBytes and until timeout, and returns
// the result with the bytes read (which the chosen path replays). A client that stays silent, closes its
// side, or needs more than maxBytes is opaque TCP with the reason in Why. An error is returned only when
// reading fails otherwise (the connection is then closed).
func Read(c net.Conn, timeout time.Duration, maxBytes int) (Result, []byte, error) {
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return Result{}, nil, err
	}
	defer c.SetReadDeadline(time.Time{})
	return More(c, nil, maxBytes)
}

// More goes on reading c after the bytes in buf until Classify decides, as Read does, under the read
// deadline the caller set on c (a deadline is reported as WhyTimeout).
func More(c net.Conn, buf []byte, maxBytes int) (Result, []byte, error) {
	if buf == nil {
		buf = make([]byte, 0, min(2048, maxBytes))
	}
	for {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), maxBytes))
			copy(grown, buf)
			buf = grown
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if n > 0 {
			if res, done := Classify(buf); done {
				return res, buf, nil
			}
			if len(buf) >= maxBytes {
				return Result{Protocol: TCP, Why: WhyTooLarge}, buf, nil
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			return Result{Protocol: TCP, Why: WhyTimeout}, buf, nil
		case errors.Is(err, io.EOF):
			return Result{Protocol: TCP, Why: WhyEOF}, buf, nil
		default:
			return Result{}, buf, err
		}
	}
}
