package sniff

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"egress.io/egress/internal/testconn"
	"time"
)

// realClientHello returns the first flight crypto/tls sends for serverName (one record).
func realClientHello(t testing.TB, serverName string) []byte {
	t.Helper()
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		c := tls.Client(client, &tls.Config{ServerName: serverName, InsecureSkipVerify: serverName == ""})
		c.Handshake()
		client.Close()
	}()
	var buf []byte
	chunk := make([]byte, 4096)
	for {
		n, err := server.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if _, done := Classify(buf); done || err != nil {
			return buf
		}
		if len(buf) >= recordHeaderLength {
			if total := recordHeaderLength + int(binary.BigEndian.Uint16(buf[3:5])); len(buf) >= total {
				return buf[:total]
			}
		}
	}
}

// helloBody builds a ClientHello body with the given extensions (type, data).
func helloBody(exts ...[2][]byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x03, 0x03})
	b.Write(make([]byte, 32))         // random
	b.WriteByte(0)                    // session id
	b.Write([]byte{0, 2, 0x13, 0x01}) // one cipher suite
	b.Write([]byte{1, 0})             // null compression
	var ext bytes.Buffer
	for _, e := range exts {
		ext.Write(e[0])
		binary.Write(&ext, binary.BigEndian, uint16(len(e[1])))
		ext.Write(e[1])
	}
	binary.Write(&b, binary.BigEndian, uint16(ext.Len()))
	b.Write(ext.Bytes())
	return b.Bytes()
}

func sniExt(name string) [2][]byte {
	var d bytes.Buffer
	binary.Write(&d, binary.BigEndian, uint16(len(name)+3))
	d.WriteByte(0)
	binary.Write(&d, binary.BigEndian, uint16(len(name)))
	d.WriteString(name)
	return [2][]byte{{0, 0}, d.Bytes()}
}

// records wraps a ClientHello body in a handshake header and splits it into TLS records of at most size
// bytes each.
func records(body []byte, size int) []byte {
	msg := append([]byte{handshakeClientHello, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	var out []byte
	for len(msg) > 0 {
		n := min(size, len(msg))
		out = append(out, recordTypeHandshake, 3, 1, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

func TestClassify(t *testing.T) {
	echExt := [2][]byte{{0xfe, 0x0d}, {0, 1, 2}}
	tests := []struct {
		name     string
		in       []byte
		want     Result
		wantDone bool
	}{
		{"empty", nil, Result{}, false},
		{"GET", []byte("GET / HTTP/1.1\r\n"), Result{Protocol: HTTP}, true},
		{"partial GET", []byte("GE"), Result{}, false},
		{"partial P", []byte("P"), Result{}, false},
		{"POST", []byte("POST /x HTTP/1.1\r\nHost: a\r\n"), Result{Protocol: HTTP}, true},
		{"h2c preface", []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Result{Protocol: HTTP, H2: true}, true},
		{"partial h2c preface", []byte("PRI * HTTP/2.0\r\n"), Result{}, false},
		{"WebDAV method", []byte("PROPFIND /dav HTTP/1.1\r\n"), Result{Protocol: HTTP}, true},
		{"WebDAV method, line not complete", []byte("PROPFIND /dav HTT"), Result{}, false},
		{"upper-case word, not HTTP", []byte("HELLO world\r\n"), Result{Protocol: TCP, Why: WhyUnknown}, true},
		{"SSH banner", []byte("SSH-2.0-OpenSSH_9.0\r\n"), Result{Protocol: TCP, Why: WhyUnknown}, true},
		{"lower-case", []byte("get / HTTP/1.1\r\n"), Result{Protocol: TCP, Why: WhyUnknown}, true},
		{"binary", []byte{0, 1, 2, 3}, Result{Protocol: TCP, Why: WhyUnknown}, true},
		{"postgres startup", []byte{0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f}, Result{Protocol: TCP, Why: WhyUnknown}, true},
		{"ClientHello, one record", records(helloBody(sniExt("api.example.test")), 1<<14), Result{Protocol: TLS, SNI: "api.example.test"}, true},
		{"ClientHello over 7-byte records", records(helloBody(sniExt("api.example.test")), 7), Result{Protocol: TLS, SNI: "api.example.test"}, true},
		{"ClientHello, records cut short", records(helloBody(sniExt("api.example.test")), 7)[:40], Result{}, false},
		{"ClientHello without SNI", records(helloBody(), 100), Result{Protocol: TCP, Why: WhyNoSNI}, true},
		{"ClientHello with ECH", records(helloBody(sniExt("public.example"), echExt), 1<<14), Result{Protocol: TCP, Why: WhyECH}, true},
		{"ClientHello with two SNI extensions", records(helloBody(sniExt("a.test"), sniExt("b.test")), 1<<14), Result{Protocol: TCP, Why: WhyMalformed}, true},
		{"ClientHello with a control character in the SNI", records(helloBody(sniExt("a\x00b.test")), 1<<14), Result{Protocol: TCP, Why: WhyMalformed}, true},
		{"not a ClientHello", []byte{0x16, 3, 1, 0, 4, 2, 0, 0, 0}, Result{Protocol: TCP, Why: WhyMalformed}, true},
		{"alert record after a partial hello", append(records(helloBody(sniExt("a.test")), 8)[:13], 0x15, 3, 3, 0, 2, 1, 0), Result{Protocol: TCP, Why: WhyMalformed}, true},
		{"zero-length record", []byte{0x16, 3, 1, 0, 0}, Result{Protocol: TCP, Why: WhyMalformed}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, done := Classify(tt.in)
			if got != tt.want || done != tt.wantDone {
				t.Errorf("Classify = %+v, %v; want %+v, %v", got, done, tt.want, tt.wantDone)
			}
		})
	}
}

func TestClassifyRealClientHello(t *testing.T) {
	hello := realClientHello(t, "api.example.test")
	if got, done := Classify(hello); !done || got.Protocol != TLS || got.SNI != "api.example.test" {
		t.Fatalf("Classify(crypto/tls ClientHello) = %+v, %v", got, done)
	}
	// Every prefix asks for more; none decides wrongly.
	for i := 1; i < len(hello); i++ {
		if got, done := Classify(hello[:i]); done {
			t.Fatalf("Classify(first %d of %d bytes) decided %+v", i, len(hello), got)
		}
	}
	// An IP-address ServerName is not sent as SNI by crypto/tls.
	if got, _ := Classify(realClientHello(t, "")); got.Protocol != TCP || got.Why != WhyNoSNI {
		t.Errorf("ClientHello without ServerName = %+v", got)
	}
}

// trickle writes b to w in pieces of n bytes with a pause between them, as separate TCP segments would
// arrive.
func trickle(w io.Writer, b []byte, n int) {
	for len(b) > 0 {
		k := min(n, len(b))
		if _, err := w.Write(b[:k]); err != nil {
			return
		}
		b = b[k:]
		time.Sleep(time.Millisecond)
	}
}

func TestSniffSegments(t *testing.T) {
	hello := records(helloBody(sniExt("split.example.test")), 50)
	client, server := testconn.Pair(t)
	go trickle(client, hello, 3)
	res, peeked, err := Read(server, 2*time.Second, 16<<10)
	if err != nil || res.Protocol != TLS || res.SNI != "split.example.test" {
		t.Fatalf("sniff = %+v, %v", res, err)
	}
	if !bytes.Equal(peeked, hello) {
		t.Errorf("peeked %d bytes, want the %d of the ClientHello exactly", len(peeked), len(hello))
	}
}

func TestSniffTimeoutBoundAndEOF(t *testing.T) {
	t.Run("silent client", func(t *testing.T) {
		_, server := testconn.Pair(t)
		start := time.Now()
		res, peeked, err := Read(server, 100*time.Millisecond, 16<<10)
		if err != nil || res.Why != WhyTimeout || len(peeked) != 0 {
			t.Fatalf("sniff = %+v, %q, %v", res, peeked, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("sniff took %v with a 100ms timeout", d)
		}
		if err := server.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("too little before the timeout", func(t *testing.T) {
		client, server := testconn.Pair(t)
		client.Write([]byte("GE"))
		res, peeked, err := Read(server, 100*time.Millisecond, 16<<10)
		if err != nil || res.Why != WhyTimeout || string(peeked) != "GE" {
			t.Fatalf("sniff = %+v, %q, %v", res, peeked, err)
		}
	})
	t.Run("bounded bytes", func(t *testing.T) {
		client, server := testconn.Pair(t)
		// A ClientHello that claims 100 KB never completes within a 1 KB bound.
		big := records(helloBody(sniExt("a.test"), [2][]byte{{0, 21}, make([]byte, 100<<10)}), 1<<14)
		go client.Write(big)
		res, peeked, err := Read(server, 2*time.Second, 1024)
		if err != nil || res.Why != WhyTooLarge || len(peeked) != 1024 {
			t.Fatalf("sniff = %+v, %d bytes, %v", res, len(peeked), err)
		}
	})
	t.Run("client closes", func(t *testing.T) {
		client, server := testconn.Pair(t)
		client.Write([]byte("\x16\x03"))
		client.CloseWrite()
		res, peeked, err := Read(server, 2*time.Second, 1024)
		if err != nil || res.Why != WhyEOF || len(peeked) != 2 {
			t.Fatalf("sniff = %+v, %q, %v", res, peeked, err)
		}
	})
}
