package decide

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Kinds of upstream failure: the X-Egress-Error reason and the egress_upstream_errors_total reason label.
const (
	ErrDNS             = "dns"              // the resolver failed (timeout, SERVFAIL, unreachable)
	ErrDNSNotFound     = "dns_not_found"    // the name does not exist (NXDOMAIN or no addresses)
	ErrConnect         = "connect"          // the TCP connection was refused or unreachable
	ErrTimeout         = "timeout"          // connecting or waiting for the response timed out
	ErrTLSVerification = "tls_verification" // the upstream's certificate did not verify
	ErrTLS             = "tls"              // another TLS handshake failure
	ErrUpstream        = "upstream"         // the upstream broke the connection or the protocol
	ErrGateway         = "gateway"          // the gateway could not be reached or could not reach the destination
	ErrGatewayDenied   = "gateway_denied"   // the gateway refused: its decision, or the pod's token
)

// UpstreamError is a failure to reach an allowed destination.
type UpstreamError struct {
	Kind string
	Name string
	Addr netip.AddrPort
	Err  error
}

func (e *UpstreamError) Error() string {
	what := e.Name
	if e.Addr.IsValid() {
		if what != "" {
			what += " at "
		}
		what += e.Addr.String()
	}
	return fmt.Sprintf("%s: %s: %v", e.Kind, what, e.Err)
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// Connect connects to the first of v's addresses that accepts, each attempt bounded by timeout, or, when
// v names a gateway, opens a tunnel through it. It dials nothing else: v.Dial (or the gateway) is what was
// decided.
func Connect(ctx context.Context, v Verdict, timeout time.Duration) (net.Conn, error) {
	if v.throughGateway {
		return connectGateway(ctx, v)
	}
	if len(v.Dial) == 0 {
		return nil, &UpstreamError{Kind: ErrConnect, Name: v.Name, Err: errors.New("nothing to connect to")}
	}
	var last error
	for _, ap := range v.Dial {
		if err := ctx.Err(); err != nil {
			return nil, &UpstreamError{Kind: ErrTimeout, Name: v.Name, Addr: ap, Err: err}
		}
		dialer := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
		c, err := dialer.DialContext(ctx, "tcp", ap.String())
		if err == nil {
			return c.(*net.TCPConn), nil
		}
		kind := ErrConnect
		if IsTimeout(err) {
			kind = ErrTimeout
		}
		last = &UpstreamError{Kind: kind, Name: v.Name, Addr: ap, Err: err}
	}
	return nil, last
}

// GatewayRefusal is implemented by a gateway's error (gateway.Error): Denied says it refused.
type GatewayRefusal interface {
	error
	Denied() bool
}

// connectGateway opens the tunnel of a verdict routed through a gateway. A failure is an UpstreamError of
// kind ErrGatewayDenied or ErrGateway whose message names the gateway.
func connectGateway(ctx context.Context, v Verdict) (net.Conn, error) {
	if v.tunnel == nil {
		return nil, &UpstreamError{Kind: ErrGateway, Name: v.Name, Err: fmt.Errorf("gateway %s: this sidecar has no gateway credentials (--gateway-token-file, --gateway-ca-file)", v.Gateway)}
	}
	c, err := v.tunnel.Tunnel(ctx, v.Gateway, v.TunnelTarget(), v.Protocol.String())
	if err != nil {
		kind := ErrGateway
		var refusal GatewayRefusal
		if errors.As(err, &refusal) && refusal.Denied() {
			kind = ErrGatewayDenied
		}
		return nil, &UpstreamError{Kind: kind, Name: v.Name, Err: err}
	}
	return c, nil
}

// IsTimeout reports whether err is a timeout.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// FailureReason classifies an error from reaching an allowed destination into one of the Err* kinds.
func FailureReason(err error) string {
	var ue *UpstreamError
	var verr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var invalidErr x509.CertificateInvalidError
	var alert tls.AlertError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &verr), errors.As(err, &hostErr), errors.As(err, &authErr), errors.As(err, &invalidErr):
		return ErrTLSVerification
	case errors.As(err, &ue):
		return ue.Kind
	case errors.As(err, &alert), errors.As(err, &recordErr), strings.Contains(err.Error(), "tls: "):
		return ErrTLS
	case IsTimeout(err):
		return ErrTimeout
	default:
		return ErrUpstream
	}
}
