package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"egress.io/egress/pkg/podauth"
)

// Resolver resolves a gateway Service's name (the sidecar's own resolver).
type Resolver interface {
	LookupAddrs(ctx context.Context, name string) ([]netip.Addr, error)
}

// DialerOptions configure a Dialer.
type DialerOptions struct {
	// Token is the pod's projected token of audience Audience, read afresh for every tunnel.
	Token *podauth.TokenFile
	// CAFile is the PEM bundle the gateways' certificates are checked with; re-read when it changes.
	CAFile string
	// Namespace is where the gateways run (the global namespace); ClusterDomain the cluster's DNS domain.
	Namespace, ClusterDomain string
	// Port is the gateways' Service port (default DefaultPort).
	Port uint16
	// Addresses, when a gateway is in it, replace its Service's name and port with "host:port" (tests and
	// clusters without DNS); the certificate is still checked for the Service's name.
	Addresses map[string]string
	// Resolver resolves the Service's name.
	Resolver Resolver
	// ConnectTimeout bounds one TCP connection attempt; HandshakeTimeout the TLS handshake and the
	// CONNECT's answer.
	ConnectTimeout, HandshakeTimeout time.Duration
}

// Dialer opens tunnels through gateways. Safe for concurrent use.
type Dialer struct {
	opts     DialerOptions
	sessions tls.ClientSessionCache
	next     atomic.Uint32 // which address to try first, so that a name with several spreads the load

	mu      sync.Mutex
	caStamp string
	caPool  *x509.CertPool
}

// NewDialer checks opts.
func NewDialer(opts DialerOptions) (*Dialer, error) {
	if opts.Token == nil || opts.CAFile == "" || opts.Namespace == "" || opts.Resolver == nil {
		return nil, errors.New("gateway: DialerOptions.Token, CAFile, Namespace and Resolver are required")
	}
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	return &Dialer{opts: opts, sessions: tls.NewLRUClientSessionCache(256)}, nil
}

// Dial opens a tunnel through gateway to target ("host:port" as decided on); protocol says what it
// carries (HeaderProtocol). It tries the gateway's addresses in turn, starting at a different one each
// time, while they cannot be reached; a gateway that answers (even with a refusal) is not asked again
// elsewhere. Every failure is an *Error: nothing is ever dialled but a gateway.
func (d *Dialer) Dial(ctx context.Context, gateway, target, protocol string) (*Conn, error) {
	fail := func(addr string, err error) (*Conn, error) {
		return nil, &Error{Gateway: gateway, Addr: addr, Err: err}
	}
	token, err := d.opts.Token.Token()
	if err != nil {
		return fail("", err)
	}
	cfg, err := d.tlsConfig(gateway)
	if err != nil {
		return fail("", err)
	}
	addrs, err := d.addresses(ctx, gateway)
	if err != nil {
		return fail("", err)
	}
	start := int(d.next.Add(1))
	var last error
	for i := range addrs {
		ap := addrs[(start+i)%len(addrs)]
		c, err := d.open(ctx, ap, cfg, gateway, target, protocol, token)
		if err == nil {
			return c, nil
		}
		last = err
		if ge, ok := AsError(err); ok && ge.Status != 0 {
			return nil, err // the gateway answered: another replica would decide the same
		}
	}
	return nil, last
}

// addresses returns the gateway's addresses: its override, or its Service's name resolved.
func (d *Dialer) addresses(ctx context.Context, gateway string) ([]netip.AddrPort, error) {
	host, port := ServiceHost(gateway, d.opts.Namespace, d.opts.ClusterDomain), d.opts.Port
	if hp, ok := d.opts.Addresses[gateway]; ok {
		h, p, err := net.SplitHostPort(hp)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", hp, err)
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("address %q: bad port", hp)
		}
		host, port = h, uint16(n)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(a, port)}, nil
	}
	ips, err := d.opts.Resolver.LookupAddrs(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolving %s: no addresses", host)
	}
	out := make([]netip.AddrPort, len(ips))
	for i, ip := range ips {
		out[i] = netip.AddrPortFrom(ip.Unmap(), port)
	}
	return out, nil
}

// open connects to one gateway address, speaks TLS and asks for the tunnel.
func (d *Dialer) open(ctx context.Context, ap netip.AddrPort, cfg *tls.Config, gateway, target, protocol, token string) (*Conn, error) {
	addr := ap.String()
	fail := func(status int, reason string, err error) (*Conn, error) {
		return nil, &Error{Gateway: gateway, Addr: addr, Status: status, Reason: reason, Err: err}
	}
	dialer := net.Dialer{Timeout: d.opts.ConnectTimeout, KeepAlive: 30 * time.Second}
	raw, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fail(0, "", err)
	}
	tcp := raw.(*net.TCPConn)
	deadline := time.Now().Add(d.opts.HandshakeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	tcp.SetDeadline(deadline)
	tc := tls.Client(tcp, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		tcp.Close()
		return fail(0, "", fmt.Errorf("TLS: %w", err))
	}
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\nAuthorization: Bearer " + token +
		"\r\n" + HeaderProtocol + ": " + protocol + "\r\n\r\n"
	if _, err := io.WriteString(tc, req); err != nil {
		tc.Close()
		return fail(0, "", err)
	}
	br := bufio.NewReaderSize(tc, 1024)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		tc.Close()
		return fail(0, "", fmt.Errorf("reading the answer to CONNECT: %w", err))
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		tc.Close()
		return fail(resp.StatusCode, resp.Header.Get(HeaderReason), errors.New(string(trimNewline(body))))
	}
	tcp.SetDeadline(time.Time{})
	c := &Conn{Conn: tc, tcp: tcp, Gateway: gateway, Addr: ap}
	if br.Buffered() > 0 { // the destination spoke first, and its bytes came with the answer
		c.pending, _ = br.Peek(br.Buffered())
	}
	return c, nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// tlsConfig returns the client configuration for gateway: the CA file's pool (parsed again only when the
// file changed) and the Service's name.
func (d *Dialer) tlsConfig(gateway string) (*tls.Config, error) {
	fi, err := os.Stat(d.opts.CAFile)
	if err != nil {
		return nil, fmt.Errorf("gateway CA: %w", err)
	}
	stamp := fi.ModTime().String() + "/" + strconv.FormatInt(fi.Size(), 10)
	d.mu.Lock()
	pool := d.caPool
	if stamp != d.caStamp {
		pem, err := os.ReadFile(d.opts.CAFile)
		if err != nil {
			d.mu.Unlock()
			return nil, fmt.Errorf("gateway CA: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			d.mu.Unlock()
			return nil, fmt.Errorf("gateway CA %s: no PEM certificates", d.opts.CAFile)
		}
		d.caPool, d.caStamp = pool, stamp
	}
	d.mu.Unlock()
	return &tls.Config{
		RootCAs:            pool,
		ServerName:         ServiceHost(gateway, d.opts.Namespace, d.opts.ClusterDomain),
		MinVersion:         tls.VersionTLS13,
		ClientSessionCache: d.sessions,
		NextProtos:         []string{alpn},
	}, nil
}

// alpn is the protocol the tunnel speaks inside TLS.
const alpn = "egress-gateway/1"

// Conn is an open tunnel: TLS to the gateway, through which bytes reach the destination.
type Conn struct {
	*tls.Conn
	tcp *net.TCPConn
	// Gateway is the gateway's name; Addr the replica's address.
	Gateway string
	Addr    netip.AddrPort
	pending []byte
}

// Read returns bytes that came with the gateway's answer first.
func (c *Conn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Socket returns the TCP connection to the gateway, for checking without reading that the gateway has not
// closed an idle tunnel.
func (c *Conn) Socket() *net.TCPConn { return c.tcp }

// Tunnel is Dial for the sidecar's decision step (decide.Tunneler).
func (d *Dialer) Tunnel(ctx context.Context, gateway, target, protocol string) (net.Conn, error) {
	c, err := d.Dial(ctx, gateway, target, protocol)
	if err != nil {
		return nil, err
	}
	return c, nil
}
