package sniff

import "testing"

// FuzzClassify checks that the sniffer never panics on arbitrary first bytes, that a decision never changes
// when more bytes arrive (what it saw is a prefix of what it would see), and that a TLS decision carries an
// SNI. Seeds: HTTP requests, the h2 preface, garbage, and in testdata/fuzz/FuzzClassify a real ClientHello
// of crypto/tls (kept as a file: making one inside the fuzz function stalls the fuzzing workers).
func FuzzClassify(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n"))
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00})
	f.Add([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, done := Classify(data)
		if !done {
			return
		}
		if res.Protocol == TLS && res.SNI == "" {
			t.Fatalf("TLS without SNI: %+v", res)
		}
		more, moreDone := Classify(append(append([]byte{}, data...), 'x', 'y'))
		if !moreDone || more != res {
			t.Fatalf("decision changed with more bytes: %+v then %+v (%v)", res, more, moreDone)
		}
	})
}
