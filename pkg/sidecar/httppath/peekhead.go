package httppath

import (
	"bufio"
	"bytes"
	"errors"
)

// errHeadNotBuffered says an absolute-form request head does not fit the connection's read buffer.
var errHeadNotBuffered = errors.New("an absolute-form request head must fit in 4 KiB")

// absoluteFormHosts looks at the request head at the start of br without consuming it. For a request line
// in absolute form ("GET http://a.test/ HTTP/1.1") it returns the Host header values of the head, which
// http.ReadRequest drops (it takes the URI's authority instead), so that the two can be checked against
// each other. For any other form it returns absolute == false and reads no further than the request line.
func absoluteFormHosts(br *bufio.Reader) (hosts []string, absolute bool, err error) {
	line, err := peekUntil(br, []byte("\n"))
	if err != nil || line == nil {
		return nil, false, err
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 || sp+1 >= len(line) || line[sp+1] == '/' || line[sp+1] == '*' {
		return nil, false, nil
	}
	head, err := peekUntil(br, []byte("\n\r\n"))
	if err == nil && head == nil {
		head, err = peekUntil(br, []byte("\n\n"))
	}
	if err != nil {
		return nil, true, err
	}
	if head == nil {
		return nil, true, errHeadNotBuffered
	}
	for _, l := range bytes.Split(head, []byte("\n"))[1:] {
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(l) >= 5 && bytes.EqualFold(l[:5], []byte("host:")) {
			hosts = append(hosts, string(bytes.Trim(l[5:], " \t")))
		}
	}
	return hosts, true, nil
}

// peekUntil returns the buffered bytes of br up to and including the first sep, reading more as needed, or
// nil when sep does not come within the buffer's size.
func peekUntil(br *bufio.Reader, sep []byte) ([]byte, error) {
	if _, err := br.Peek(1); err != nil {
		return nil, err
	}
	for {
		n := br.Buffered()
		buf, _ := br.Peek(n)
		if i := bytes.Index(buf, sep); i >= 0 {
			return buf[:i+len(sep)], nil
		}
		if n >= br.Size() {
			return nil, nil
		}
		if _, err := br.Peek(n + 1); err != nil { // wait for more
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, nil
			}
			return nil, err
		}
	}
}
