package sidecar

import "bytes"

// Protocol is what the start of a connection turned out to be.
type Protocol uint8

const (
	// ProtoTCP is opaque TCP: neither HTTP/1.x nor a TLS ClientHello with a usable SNI, or not sniffed.
	ProtoTCP Protocol = iota
	// ProtoHTTP is plain HTTP/1.x (or HTTP/2 with prior knowledge), served by the HTTP path.
	ProtoHTTP
	// ProtoTLS is TLS whose ClientHello names a server (SNI) and is not encrypted (no ECH).
	ProtoTLS
)

// String returns the protocol's metric label: "tcp", "http" or "tls".
func (p Protocol) String() string {
	switch p {
	case ProtoHTTP:
		return "http"
	case ProtoTLS:
		return "tls"
	default:
		return "tcp"
	}
}

// Why a connection was classified as opaque TCP (SniffResult.Why).
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

// SniffResult is the outcome of classifying the first bytes of a connection.
type SniffResult struct {
	Protocol Protocol
	// SNI is the ClientHello's host_name for ProtoTLS.
	SNI string
	// Why says, for ProtoTCP, why the connection is opaque (one of the Why* constants).
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
func Classify(buf []byte) (res SniffResult, done bool) {
	if len(buf) == 0 {
		return SniffResult{}, false
	}
	if buf[0] == recordTypeHandshake {
		return classifyTLS(buf)
	}
	return classifyHTTP(buf)
}

// classifyHTTP recognises an HTTP/1.x request line (or the h2c preface).
func classifyHTTP(buf []byte) (SniffResult, bool) {
	opaque := SniffResult{Protocol: ProtoTCP, Why: WhyUnknown}
	for _, m := range knownMethods {
		if bytes.HasPrefix(buf, m) {
			return SniffResult{Protocol: ProtoHTTP}, true
		}
		if len(buf) < len(m) && bytes.HasPrefix(m, buf) {
			return SniffResult{}, false
		}
	}
	n := min(len(buf), len(h2Preface))
	if bytes.Equal(buf[:n], h2Preface[:n]) {
		if n == len(h2Preface) {
			return SniffResult{Protocol: ProtoHTTP}, true
		}
		return SniffResult{}, false
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
		return SniffResult{}, false
	}
	eol := bytes.IndexByte(buf, '\n')
	if eol < 0 {
		if bytes.ContainsAny(buf[sp:], "\x00\r") {
			return opaque, true
		}
		return SniffResult{}, false
	}
	line := bytes.TrimSuffix(buf[:eol], []byte("\r"))
	if bytes.HasSuffix(line, []byte(" HTTP/1.1")) || bytes.HasSuffix(line, []byte(" HTTP/1.0")) {
		return SniffResult{Protocol: ProtoHTTP}, true
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
func classifyTLS(buf []byte) (SniffResult, bool) {
	hello, complete, err := clientHelloBytes(buf)
	if err != nil {
		return SniffResult{Protocol: ProtoTCP, Why: WhyMalformed}, true
	}
	if !complete {
		return SniffResult{}, false
	}
	info, err := parseClientHello(hello)
	switch {
	case err != nil:
		return SniffResult{Protocol: ProtoTCP, Why: WhyMalformed}, true
	case info.ech:
		return SniffResult{Protocol: ProtoTCP, Why: WhyECH}, true
	case info.serverName == "":
		return SniffResult{Protocol: ProtoTCP, Why: WhyNoSNI}, true
	}
	return SniffResult{Protocol: ProtoTLS, SNI: info.serverName}, true
}
