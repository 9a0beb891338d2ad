package sidecar

import (
	"bytes"
	"hash/maphash"
	"sync"
)

// Bounds of a headTap's memory.
const (
	maxTapLine  = 512 // bytes of a line kept (a Host value beyond this is recorded as unusable)
	maxTapHeads = 8   // completed heads remembered
	maxTapHosts = 4   // Host values remembered per head
)

// headTap watches the bytes net/http reads from an HTTP/1 connection and remembers, for the last few
// request heads, a hash of the request line and the Host header values. net/http discards the Host header
// of an absolute-form request ("GET http://a/ HTTP/1.1") before any handler runs; the tap lets the handler
// check that it agrees with the URI. It keeps a fixed amount of memory whatever the traffic. A line in a
// request body that mimics a request line can only make the check fail closed (400) or pass a request
// whose forwarded Host is the URI's anyway; it never changes where a request goes.
type headTap struct {
	mu        sync.Mutex
	seed      maphash.Seed
	hash      maphash.Hash // of the current line while it may be a request line (candidate)
	line      []byte       // the current line's first maxTapLine bytes
	lineLen   int          // the current line's full length so far
	candidate bool         // the current line may be a request line
	inHead    bool         // between a request line and the empty line that ends its head
	cur       tapHead
	heads     []tapHead // completed heads, oldest first
	off       bool      // the connection switched to HTTP/2 (h2c): nothing more to see
}

type tapHead struct {
	line  uint64
	hosts []string
}

func newHeadTap() *headTap {
	t := &headTap{seed: maphash.MakeSeed(), line: make([]byte, 0, 64)}
	t.hash.SetSeed(t.seed)
	t.candidate = true
	return t
}

// Observe feeds the tap the bytes just read from the connection, in order.
func (t *headTap) Observe(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(p) > 0 && !t.off {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		t.add(chunk)
		if i < 0 {
			return
		}
		t.endLine()
		p = p[i+1:]
	}
}

// add appends part of the current line.
func (t *headTap) add(b []byte) {
	if keep := min(len(b), maxTapLine-len(t.line)); keep > 0 {
		t.line = append(t.line, b[:keep]...)
	}
	t.lineLen += len(b)
	if t.candidate && !mayBeRequestLine(t.line) {
		t.candidate = false
	}
	if t.candidate {
		t.hash.Write(b)
	}
}

// endLine handles a complete line.
func (t *headTap) endLine() {
	line := bytes.TrimSuffix(t.line, []byte("\r"))
	isRequestLine := t.candidate && bytes.IndexByte(line, ' ') > 0
	switch {
	case isRequestLine:
		// Also inside a head: a header name has no space, so this line starts a new head (the previous
		// "head" was body bytes that looked like one).
		if bytes.HasPrefix(line, []byte("PRI * HTTP/2.0")) {
			t.off = true
			break
		}
		t.cur, t.inHead = tapHead{line: t.hash.Sum64()}, true
	case t.inHead && len(line) == 0 && t.lineLen <= 1:
		t.heads = append(t.heads, t.cur)
		if len(t.heads) > maxTapHeads {
			t.heads = append(t.heads[:0], t.heads[1:]...)
		}
		t.cur, t.inHead = tapHead{}, false
	case t.inHead:
		if len(line) >= 5 && bytes.EqualFold(line[:5], []byte("host:")) && len(t.cur.hosts) < maxTapHosts {
			value := string(bytes.Trim(line[5:], " \t"))
			if t.lineLen > maxTapLine {
				value = "\x00truncated"
			}
			t.cur.hosts = append(t.cur.hosts, value)
		}
	}
	t.line, t.lineLen, t.candidate = t.line[:0], 0, true
	t.hash.Reset()
}

// Lookup returns the Host values of the oldest remembered head whose request line is
// "method uri proto", and forgets it and every older head. found is false when no such head is known.
func (t *headTap) Lookup(method, uri, proto string) (hosts []string, found bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteString(method + " " + uri + " " + proto)
	plain := h.Sum64()
	h.WriteString("\r")
	withCR := h.Sum64()
	for i, head := range t.heads {
		if head.line == plain || head.line == withCR {
			t.heads = append(t.heads[:0], t.heads[i+1:]...)
			return head.hosts, true
		}
	}
	return nil, false
}

// mayBeRequestLine reports whether the start of a line can still become "METHOD SP ...".
func mayBeRequestLine(b []byte) bool {
	for i, c := range b {
		switch {
		case c == ' ':
			return i > 0
		case i >= maxMethodLength:
			return false
		case !(c >= 'A' && c <= 'Z' || c == '-' || c == '_'):
			return false
		}
	}
	return true
}
