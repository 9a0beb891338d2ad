// Package sniff tells from the first bytes a client sends what it speaks: HTTP/1.x (or HTTP/2 with prior
// knowledge), a TLS ClientHello with its SNI, or something else (opaque TCP). Classify is pure; Read and More
// read a connection until Classify decides, within bounds of time and size.
package sniff

import "bytes"

// Protocol is what the start of a connection turned out to be.
type Protocol uint8

const (
	// TCP is opaque TCP: neither HTTP/1.x nor a TLS ClientHello with a usable SNI, or not sniffed.
	TCP Protocol = iota
	// HTTP is plain HTTP/1.x (or HTTP/2 with prior knowledge), served by the HTTP path.
	HTTP
	// TLS is TLS whose ClientHello names a server (SNI) and is not encrypted (no ECH).
	TLS
)

// String returns the protocol's metric label: "tcp", "http" or "tls".
func (p Protocol) String() string {
	switch p {
	case HTTP:
		return "http"
	case TLS:
		return "tls"
	default:
		return "tcp"
	}
}

// Why a connection was classified as opaque TCP (Result.Why).
const (
	WhyServerFirst = "server_first" // the port is in the server-first list, not sniffed
	WhyTimeout     = "timeout"      // the client sent too little before the sniff timeout
	WhyTooLarge    = "too_large"    // the bytes needed to decide exceed the sniff bound
	WhyEOF         = "eof"          // the client closed its side before a decision
	WhyUnknown     = "unknown"      // neither HTTP/1.x nor TLS
	WhyNoSNI       = "no_sni"       // a ClientHello without server_name
	WhyECH         = "ech"          // a ClientHello with encrypted_client_hello: the SNI is not the real name
	WhyMalformed   = "malformed"    // TLS records or ClientHello that do not parse
)

// Result is the outcome of classifying the first bytes of a connection.
type Result struct {
	Protocol Protocol
	// H2 is true for HTTP that starts with the HTTP/2 connection preface (h2c with prior knowledge).
	H2 bool
	// SNI is the ClientHello's host_name for TLS.
	SNI string
	// Why says, for TCP, why the connection is opaque (one of the Why* constants).
	Why string
}

// knownMethods are the request methods that are taken as HTTP as soon as "METHOD " is seen; net/http then
// parses (or rejects) the rest, so a look-alike protocol is refused rather than let through.
var knownMethods = [][]byte{
	[]byte("GET "), []byte("HEAD "), []byte("POST "), []byte("PUT "), []byte("DELETE "),
	[]byte("OPTIONS "), []byte("PATCH "), []byte("TRACE "), []byte("CONNECT "),
}

// h2Preface is the HTTP/2 connection preface a client with prior knowledge (h2c) starts with.
var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// maxMethodLength bounds the token an unknown method may be.
const maxMethodLength = 24

// Classify decides what the bytes a client sent first are. done is false while more bytes could change the
// answer; the caller reads more, or gives up (timeout, bound, EOF) and treats the connection as opaque.
func Classify(buf []byte) (res Result, done bool) {
	if len(buf) == 0 {
		return Result{}, false
	}
	if buf[0] == recordTypeHandshake {
		return classifyTLS(buf)
	}
	return classifyHTTP(buf)
}

// classifyHTTP recognises an HTTP/1.x request line (or the h2c preface).
func classifyHTTP(buf []byte) (Result, bool) {
	opaque := Result{Protocol: TCP, Why: WhyUnknown}
	for _, m := range knownMethods {
		if bytes.HasPrefix(buf, m) {
			return Result{Protocol: HTTP}, true
		}
		if len(buf) < len(m) && bytes.HasPrefix(m, buf) {
			return Result{}, false
		}
	}
	n := min(len(buf), len(h2Preface))
	if bytes.Equal(buf[:n], h2Preface[:n]) {
		if n == len(h2Preface) {
			return Result{Protocol: HTTP, H2: true}, true
		}
		return Result{}, false
	}
	// An unknown method (WebDAV and friends): a token of upper-case letters, then a whole request line that
	// ends in " HTTP/1.0" or " HTTP/1.1".
	sp := bytes.IndexByte(buf, ' ')
	token := buf
	if sp >= 0 {
		token = buf[:sp]
	}
	if len(token) > maxMethodLength || !isMethodToken(token) || sp == 0 {
		return opaque, true
	}
	if sp < 0 {
		return Result{}, false
	}
	eol := bytes.IndexByte(buf, '\n')
	if eol < 0 {
		if bytes.ContainsAny(buf[sp:], "\x00\r") {
			return opaque, true
		}
		return Result{}, false
	}
	line := bytes.TrimSuffix(buf[:eol], []byte("\r"))
	if bytes.HasSuffix(line, []byte(" HTTP/1.1")) || bytes.HasSuffix(line, []byte(" HTTP/1.0")) {
		return Result{Protocol: HTTP}, true
	}
	return opaque, true
}

func isMethodToken(b []byte) bool {
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// classifyTLS collects the ClientHello from TLS handshake records and reads its SNI.
func classifyTLS(buf []byte) (Result, bool) {
	hello, complete, err := clientHelloBytes(buf)
	if err != nil {
		return Result{Protocol: TCP, Why: WhyMalformed}, true
	}
	if !complete {
		return Result{}, false
	}
	info, err := parseClientHello(hello)
	switch {
	case err != nil:
		return Result{Protocol: TCP, Why: WhyMalformed}, true
	case info.ech:
		return Result{Protocol: TCP, Why: WhyECH}, true
	case info.serverName == "":
		return Result{Protocol: TCP, Why: WhyNoSNI}, true
	}
	return Result{Protocol: TLS, SNI: info.serverName}, true
}
