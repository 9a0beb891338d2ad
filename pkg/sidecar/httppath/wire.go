package httppath

import (
	"bufio"
	"io"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"
)

// hopByHop are the headers that describe one connection, not the message: never forwarded as they are.
var hopByHop = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	// Written by the sidecar for the message it frames.
	"Host": true, "Content-Length": true,
}

// h2cUpgrade are the headers of an h2c upgrade request, which is forwarded as plain HTTP/1.1.
var h2cUpgrade = []string{"Http2-Settings"}

// excluded returns the headers not to copy from h: the hop-by-hop ones, those of an h2c upgrade and those
// the message's Connection header names. Most messages' Connection header says only "keep-alive" or
// "close", naming no header they carry: they share hopByHop, and only a message that names one gets a set
// of its own (building one for every message was a fifth of the request path's allocation).
func excluded(h http.Header) map[string]bool {
	var out map[string]bool
	drop := func(k string) {
		if out == nil {
			out = maps.Clone(hopByHop)
		}
		out[k] = true
	}
	if h["Http2-Settings"] != nil {
		for _, k := range h2cUpgrade {
			drop(k)
		}
	}
	for _, v := range h["Connection"] {
		for token := range strings.SplitSeq(v, ",") {
			if token = strings.TrimSpace(token); token == "" {
				continue
			}
			for k := range h {
				if !hopByHop[k] && strings.EqualFold(k, token) {
					drop(k)
				}
			}
		}
	}
	if out == nil {
		return hopByHop
	}
	return out
}

// writeRequestHead writes the request line and headers of req for the upstream: origin-form, the Host the
// target says, the app's headers less the hop-by-hop ones (the app's own Forwarded and X-Forwarded-* pass
// unchanged; none are added), and framing of the sidecar's own (Content-Length, or chunked for a body of
// unknown length), so that no framing ambiguity of the app's request reaches the upstream.
func writeRequestHead(w *bufio.Writer, req *http.Request, t requestTarget, upgrade bool) error {
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(originForm(req))
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(t.Host)
	w.WriteString("\r\n")
	if err := req.Header.WriteSubset(w, excluded(req.Header)); err != nil {
		return err
	}
	if upgrade {
		w.WriteString("Connection: Upgrade\r\nUpgrade: ")
		w.WriteString(req.Header.Get("Upgrade"))
		w.WriteString("\r\n")
	}
	if te := req.Header["Te"]; httpguts.HeaderValuesContainsToken(te, "trailers") {
		w.WriteString("Te: trailers\r\n")
	}
	switch {
	case req.ContentLength > 0 || req.ContentLength == 0 && req.Header["Content-Length"] != nil:
		w.WriteString("Content-Length: ")
		writeInt(w, req.ContentLength, 10)
		w.WriteString("\r\n")
	case req.ContentLength < 0:
		writeTrailerHeader(w, req.Trailer)
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	_, err := w.WriteString("\r\n")
	return err
}

// originForm returns the request target as the app sent it, absolute form turned into origin form.
func originForm(req *http.Request) string {
	uri := req.RequestURI
	i := strings.Index(uri, "://")
	if i < 0 || strings.HasPrefix(uri, "/") {
		return uri
	}
	rest := uri[i+3:]
	j := strings.IndexAny(rest, "/?")
	switch {
	case j < 0:
		return "/"
	case rest[j] == '?':
		return "/" + rest[j:]
	}
	return rest[j:]
}

// writeResponseHead writes the status line and headers of resp for the app: the upstream's headers less the
// hop-by-hop ones, and framing of the sidecar's own. noBody is a response without a body (to HEAD, 1xx,
// 101, 204, 304), whose Content-Length passes as the upstream sent it.
func writeResponseHead(w *bufio.Writer, resp *http.Response, noBody, chunked, closeConn bool) {
	w.WriteString("HTTP/1.1 ")
	if resp.Status != "" {
		w.WriteString(resp.Status)
	} else {
		w.WriteString(strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode))
	}
	w.WriteString("\r\n")
	resp.Header.WriteSubset(w, excluded(resp.Header))
	switch {
	case resp.StatusCode == http.StatusSwitchingProtocols:
		w.WriteString("Connection: Upgrade\r\nUpgrade: ")
		w.WriteString(resp.Header.Get("Upgrade"))
		w.WriteString("\r\n")
	case noBody:
		if cl := resp.Header["Content-Length"]; len(cl) == 1 {
			w.WriteString("Content-Length: ")
			w.WriteString(cl[0])
			w.WriteString("\r\n")
		}
	case chunked:
		writeTrailerHeader(w, resp.Trailer)
		w.WriteString("Transfer-Encoding: chunked\r\n")
	case resp.ContentLength >= 0:
		w.WriteString("Content-Length: ")
		writeInt(w, resp.ContentLength, 10)
		w.WriteString("\r\n")
	}
	if closeConn {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
}

// writeTrailerHeader announces the trailers that will follow a chunked body.
func writeTrailerHeader(w *bufio.Writer, trailer http.Header) {
	if len(trailer) == 0 {
		return
	}
	names := make([]string, 0, len(trailer))
	for k := range trailer {
		names = append(names, k)
	}
	w.WriteString("Trailer: ")
	w.WriteString(strings.Join(names, ", "))
	w.WriteString("\r\n")
}

// writeTrailers writes the trailer fields after a chunked body's last chunk.
func writeTrailers(w *bufio.Writer, trailer http.Header) {
	if len(trailer) > 0 {
		trailer.Write(w)
	}
}

// copyBufferSize is the size of the buffers bodies are copied through.
const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// copyFlushing copies src to w, as chunks when chunked, and flushes w whenever srcBuf (the buffer src reads
// through) holds nothing more: bytes go on as soon as they came in, and what came in together leaves
// together.
func copyFlushing(w *bufio.Writer, src io.Reader, srcBuf *bufio.Reader, chunked bool) (int64, error) {
	n, werr, rerr := copyResponseBody(w, src, srcBuf, chunked)
	if werr != nil {
		return n, werr
	}
	return n, rerr
}

// copyResponseBody is copyFlushing that tells a failure to write (werr) from a failure to read (rerr).
func copyResponseBody(w *bufio.Writer, src io.Reader, srcBuf *bufio.Reader, chunked bool) (n int64, werr, rerr error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		nr, err := src.Read(buf)
		if nr > 0 {
			if chunked {
				writeInt(w, int64(nr), 16)
				w.WriteString("\r\n")
			}
			if _, werr = w.Write(buf[:nr]); werr != nil {
				return n, werr, nil
			}
			if chunked {
				w.WriteString("\r\n")
			}
			n += int64(nr)
			if srcBuf.Buffered() == 0 {
				if werr = w.Flush(); werr != nil {
					return n, werr, nil
				}
			}
		}
		switch {
		case err == io.EOF:
			return n, nil, nil
		case err != nil:
			return n, nil, err
		}
	}
}

// halfCloser is a connection whose sending side can be closed alone.
type halfCloser interface{ CloseWrite() error }

// joinBuffered copies both ways between the app and the upstream after a protocol switch, starting with
// what their readers already hold, until both sides are done, and returns the bytes each way.
func joinBuffered(app net.Conn, appBuf *bufio.Reader, up net.Conn, upBuf *bufio.Reader) (sent, received int64) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		sent, _ = io.Copy(up, appBuf)
		if hc, ok := up.(halfCloser); ok {
			hc.CloseWrite()
		} else {
			up.Close()
		}
	}()
	received, _ = io.Copy(app, upBuf)
	if hc, ok := app.(halfCloser); ok {
		hc.CloseWrite()
	} else {
		app.Close()
	}
	<-done
	app.Close()
	up.Close()
	return sent, received
}

// writeInt writes n in base without allocating.
func writeInt(w *bufio.Writer, n int64, base int) {
	w.Write(strconv.AppendInt(w.AvailableBuffer(), n, base))
}
