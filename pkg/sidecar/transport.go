package sidecar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Pool sizes of the upstream transports: enough idle connections per host for a busy app's concurrency.
const (
	maxIdleConns        = 1024
	maxIdleConnsPerHost = 256
	tlsSessionCacheSize = 1024
)

// loadRoots returns the system roots plus the certificates of the PEM file bundle (if not empty).
func loadRoots(bundle string) (*x509.CertPool, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if bundle == "" {
		return roots, nil
	}
	pem, err := os.ReadFile(bundle)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", FlagCABundle, err)
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--%s %s: no PEM certificate found", FlagCABundle, bundle)
	}
	return roots, nil
}

// newTransports returns the two pooled upstream transports: plain HTTP/1.1, and TLS origination that
// verifies certificates against roots, resumes TLS sessions and speaks HTTP/2 when the upstream offers it.
// Both dial through d (the sidecar's resolver, the address guard), never through a proxy from the
// environment, and never add compression the app did not ask for.
func newTransports(cfg Config, d *upstreamDialer, roots *x509.CertPool) (plain, origin *http.Transport) {
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) {
		host, portText, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("dial %s: bad port: %w", addr, err)
		}
		c, err := d.DialName(ctx, host, uint16(port))
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	base := func() *http.Transport {
		return &http.Transport{
			Proxy:                  nil,
			DialContext:            dial,
			MaxIdleConns:           maxIdleConns,
			MaxIdleConnsPerHost:    maxIdleConnsPerHost,
			IdleConnTimeout:        cfg.IdleTimeout,
			TLSHandshakeTimeout:    cfg.TLSHandshakeTimeout,
			ResponseHeaderTimeout:  cfg.ResponseHeaderTimeout,
			ExpectContinueTimeout:  time.Second,
			DisableCompression:     true,
			MaxResponseHeaderBytes: 1 << 20,
		}
	}
	plain = base()
	origin = base()
	origin.ForceAttemptHTTP2 = true
	origin.TLSClientConfig = &tls.Config{
		RootCAs:            roots,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(tlsSessionCacheSize),
	}
	return plain, origin
}
