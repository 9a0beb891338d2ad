package httppath

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"egress.io/egress/pkg/sidecar/dnsproxy"
)

// requestTarget is where one HTTP request is decided on and forwarded to.
type requestTarget struct {
	// Name is the host name or IP literal (IPv6 without brackets) decided on and dialled.
	Name string
	// Port is the port decided on and dialled.
	Port uint16
	// Originate is true for NAME.egress.local: the sidecar speaks TLS to Name.
	Originate bool
	// Host is the Host header sent upstream.
	Host string
	// authority caches Authority.
	authority string
}

// Authority returns "name:port" as used in messages and the dial address.
func (t requestTarget) Authority() string {
	if t.authority != "" {
		return t.authority
	}
	return net.JoinHostPort(t.Name, strconv.Itoa(int(t.Port)))
}

// Protocol returns the decision log's protocol: "https" when the sidecar originates TLS, else "http".
func (t requestTarget) Protocol() string {
	if t.Originate {
		return "https"
	}
	return "http"
}

// targetForHost works out where a request whose Host (or absolute-form authority) is host goes, given the
// port of the connection's original destination:
//
//   - NAME.suffix[:P] → TLS to NAME on port 443, or on P when P is given and is not 80; Host "NAME" (or
//     "NAME:P" on a port other than 443).
//   - anything else → plain HTTP to the named host on origPort, with the Host header as sent.
func targetForHost(host string, origPort uint16, localSuffix string) (requestTarget, error) {
	name, port, err := splitAuthority(host)
	if err != nil {
		return requestTarget{}, err
	}
	if local, ok := dnsproxy.IsLocalName(name, localSuffix); ok {
		t := requestTarget{Name: local, Port: 443, Originate: true, Host: local}
		if port != 0 && port != 80 {
			t.Port = port
		}
		if t.Port != 443 {
			t.Host = net.JoinHostPort(local, strconv.Itoa(int(t.Port)))
		}
		return t, nil
	}
	return requestTarget{Name: name, Port: origPort, Host: host}, nil
}

// splitAuthority splits "host", "host:port", "[v6]" or "[v6]:port" into a host (IPv6 without brackets) and a
// port (0 when absent). A bare IPv6 address, an empty host or a bad port is an error.
func splitAuthority(authority string) (host string, port uint16, err error) {
	if authority == "" {
		return "", 0, errors.New("empty Host")
	}
	rest := ""
	if strings.HasPrefix(authority, "[") {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("host %q: missing ']'", authority)
		}
		host, rest = authority[1:end], authority[end+1:]
		if addr, err := netip.ParseAddr(host); err != nil || !addr.Is6() || addr.Zone() != "" {
			return "", 0, fmt.Errorf("host %q: not an IPv6 address in brackets", authority)
		}
		if rest != "" && !strings.HasPrefix(rest, ":") {
			return "", 0, fmt.Errorf("host %q: junk after ']'", authority)
		}
	} else {
		host = authority
		if i := strings.IndexByte(authority, ':'); i >= 0 {
			host, rest = authority[:i], authority[i:]
			if strings.Contains(rest[1:], ":") {
				return "", 0, fmt.Errorf("host %q: an IPv6 address must be in brackets", authority)
			}
		}
	}
	if host == "" {
		return "", 0, fmt.Errorf("host %q: empty host name", authority)
	}
	if rest == "" {
		return host, 0, nil
	}
	p, err := strconv.ParseUint(rest[1:], 10, 16)
	if err != nil || p == 0 || strings.HasPrefix(rest[1:], "+") {
		return "", 0, fmt.Errorf("host %q: port must be a number from 1 to 65535", authority)
	}
	return host, uint16(p), nil
}

// isAbsoluteForm reports whether the request line carried an absolute URI ("GET http://host/ HTTP/1.1").
func isAbsoluteForm(r *http.Request) bool {
	return r.Method != http.MethodConnect && r.URL != nil && r.URL.Host != "" && r.ProtoMajor == 1
}

// checkAbsoluteForm validates an absolute-form request: only the http scheme (the sidecar is a transparent
// proxy on a plain-text connection), and the Host header must name the same authority as the URI. hosts are
// the Host header values of the request head.
func checkAbsoluteForm(r *http.Request, hosts []string) error {
	if !strings.EqualFold(r.URL.Scheme, "http") {
		return fmt.Errorf("absolute URI with scheme %q: only http is accepted on a plain-text connection", r.URL.Scheme)
	}
	switch len(hosts) {
	case 0:
		if r.ProtoAtLeast(1, 1) {
			return errors.New("absolute URI without a Host header")
		}
		return nil
	case 1:
		if !sameAuthority(r.URL.Host, hosts[0]) {
			return fmt.Errorf("absolute URI names %q but the Host header is %q", r.URL.Host, hosts[0])
		}
		return nil
	default:
		return errors.New("more than one Host header")
	}
}

// sameAuthority compares two authorities case-insensitively, ignoring a trailing dot and the default port 80.
func sameAuthority(a, b string) bool {
	ha, pa, errA := splitAuthority(a)
	hb, pb, errB := splitAuthority(b)
	if errA != nil || errB != nil {
		return false
	}
	if pa == 0 {
		pa = 80
	}
	if pb == 0 {
		pb = 80
	}
	return pa == pb && strings.EqualFold(strings.TrimSuffix(ha, "."), strings.TrimSuffix(hb, "."))
}
