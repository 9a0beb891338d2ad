package redirect

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSockaddr(t *testing.T) {
	in4 := make([]byte, unix.SizeofSockaddrInet4)
	binary.NativeEndian.PutUint16(in4, unix.AF_INET)
	binary.BigEndian.PutUint16(in4[2:], 443)
	copy(in4[4:], []byte{198, 18, 0, 2})

	in6 := make([]byte, unix.SizeofSockaddrInet6)
	binary.NativeEndian.PutUint16(in6, unix.AF_INET6)
	binary.BigEndian.PutUint16(in6[2:], 8443)
	addr6 := netip.MustParseAddr("2001:db8::2").As16()
	copy(in6[8:], addr6[:])

	for _, tt := range []struct {
		raw  []byte
		want string
	}{
		{in4, "198.18.0.2:443"},
		{in6, "[2001:db8::2]:8443"},
	} {
		got, err := parseSockaddr(tt.raw)
		if err != nil || got.String() != tt.want {
			t.Errorf("parseSockaddr = %v, %v, want %s", got, err, tt.want)
		}
	}
	if _, err := parseSockaddr(in4[:4]); err == nil {
		t.Error("parseSockaddr accepted 4 bytes")
	}
	bogus := make([]byte, unix.SizeofSockaddrInet6)
	binary.NativeEndian.PutUint16(bogus, unix.AF_UNIX)
	if _, err := parseSockaddr(bogus); err == nil {
		t.Error("parseSockaddr accepted AF_UNIX")
	}
}
