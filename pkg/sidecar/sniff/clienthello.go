package sniff

import (
	"errors"
)

// TLS wire constants used by the ClientHello parser.
const (
	recordTypeHandshake     = 0x16
	recordHeaderLength      = 5
	maxRecordLength         = 1<<14 + 2048 // TLSCiphertext bound; a ClientHello record is plaintext (2^14)
	handshakeClientHello    = 0x01
	handshakeHeaderLength   = 4
	extServerName           = 0x0000
	extEncryptedClientHello = 0xfe0d
	serverNameTypeHost      = 0x00
)

var errMalformedHello = errors.New("malformed TLS ClientHello")

// clientHelloBytes reassembles the first handshake message from the TLS records at the start of buf, which
// may split it over several records (and the records over several reads). It returns complete == false
// while more bytes are needed, and an error when the bytes are not a ClientHello in handshake records.
func clientHelloBytes(buf []byte) (hello []byte, complete bool, err error) {
	var msg []byte
	for len(buf) > 0 {
		if len(buf) < recordHeaderLength {
			return nil, false, nil
		}
		if buf[0] != recordTypeHandshake || buf[1] != 0x03 {
			return nil, false, errMalformedHello
		}
		n := int(buf[3])<<8 | int(buf[4])
		if n == 0 || n > maxRecordLength {
			return nil, false, errMalformedHello
		}
		if len(buf) < recordHeaderLength+n {
			return nil, false, nil
		}
		msg = append(msg, buf[recordHeaderLength:recordHeaderLength+n]...)
		buf = buf[recordHeaderLength+n:]
		if len(msg) >= handshakeHeaderLength {
			if msg[0] != handshakeClientHello {
				return nil, false, errMalformedHello
			}
			total := handshakeHeaderLength + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
			if len(msg) >= total {
				return msg[handshakeHeaderLength:total], true, nil
			}
		}
	}
	return nil, false, nil
}

// helloInfo is what the sidecar needs from a ClientHello.
type helloInfo struct {
	serverName string
	ech        bool
}

// parseClientHello reads the server_name and whether encrypted_client_hello is offered from a ClientHello
// body (without its handshake header). It is strict: a length that runs past its parent, a repeated
// extension or a malformed server_name list is an error, never a best guess.
func parseClientHello(b []byte) (helloInfo, error) {
	var info helloInfo
	r := byteReader(b)
	if !r.skip(2 + 32) { // legacy_version, random
		return info, errMalformedHello
	}
	if _, ok := r.vector8(); !ok { // legacy_session_id
		return info, errMalformedHello
	}
	if suites, ok := r.vector16(); !ok || len(suites) == 0 || len(suites)%2 != 0 {
		return info, errMalformedHello
	}
	if methods, ok := r.vector8(); !ok || len(methods) == 0 {
		return info, errMalformedHello
	}
	if len(r) == 0 {
		return info, nil // no extensions at all (TLS 1.0-era clients)
	}
	exts, ok := r.vector16()
	if !ok || len(r) != 0 {
		return info, errMalformedHello
	}
	seen := map[uint16]bool{}
	for len(exts) > 0 {
		typ, ok := exts.uint16()
		if !ok {
			return info, errMalformedHello
		}
		data, ok := exts.vector16()
		if !ok || seen[typ] {
			return info, errMalformedHello
		}
		seen[typ] = true
		switch typ {
		case extServerName:
			name, err := parseServerName(data)
			if err != nil {
				return info, err
			}
			info.serverName = name
		case extEncryptedClientHello:
			info.ech = true
		}
	}
	return info, nil
}

// parseServerName returns the host_name from a server_name extension body.
func parseServerName(data byteReader) (string, error) {
	list, ok := data.vector16()
	if !ok || len(data) != 0 || len(list) == 0 {
		return "", errMalformedHello
	}
	name := ""
	for len(list) > 0 {
		typ, ok := list.uint8()
		if !ok {
			return "", errMalformedHello
		}
		value, ok := list.vector16()
		if !ok {
			return "", errMalformedHello
		}
		if typ != serverNameTypeHost {
			continue
		}
		if name != "" || len(value) == 0 || !isPrintableASCII(value) {
			return "", errMalformedHello
		}
		name = string(value)
	}
	return name, nil
}

func isPrintableASCII(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// byteReader consumes big-endian, length-prefixed TLS fields.
type byteReader []byte

func (r *byteReader) skip(n int) bool {
	if len(*r) < n {
		return false
	}
	*r = (*r)[n:]
	return true
}

func (r *byteReader) uint8() (uint8, bool) {
	if len(*r) < 1 {
		return 0, false
	}
	v := (*r)[0]
	*r = (*r)[1:]
	return v, true
}

func (r *byteReader) uint16() (uint16, bool) {
	if len(*r) < 2 {
		return 0, false
	}
	v := uint16((*r)[0])<<8 | uint16((*r)[1])
	*r = (*r)[2:]
	return v, true
}

func (r *byteReader) vector(n int) (byteReader, bool) {
	if len(*r) < n {
		return nil, false
	}
	v := (*r)[:n]
	*r = (*r)[n:]
	return v, true
}

func (r *byteReader) vector8() (byteReader, bool) {
	n, ok := r.uint8()
	if !ok {
		return nil, false
	}
	return r.vector(int(n))
}

func (r *byteReader) vector16() (byteReader, bool) {
	n, ok := r.uint16()
	if !ok {
		return nil, false
	}
	return r.vector(int(n))
}
