package webhook

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The files of the certificate directory (--cert-dir): the rotator's Secret, mounted, or static files.
const (
	certFile   = "tls.crt"
	keyFile    = "tls.key"
	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"
)

// policyCertValidity is the life of a policy service certificate issued in memory; it is re-issued when
// half of it has passed.
const policyCertValidity = 30 * 24 * time.Hour

// policyCertificate is the policy service's serving certificate.
//
// With rotation, every replica issues its own certificate in memory for the policy Service's DNS names,
// signed by the CA the rotator keeps in the webhook's Secret (ca.crt and ca.key, mounted in --cert-dir):
// one CA for the webhook and the policy service, renewed by cert-controller as before, and the CA is all a
// sidecar needs to trust (PolicyCAReconciler publishes it). The certificate is ECDSA P-256, so a TLS
// handshake costs the replica a fraction of the rotator's RSA one (a mass reconnect is thousands of them),
// and it is re-issued when half its life has passed or when the CA changes. With --static-certs, tls.crt
// and tls.key are served as they are (they must name what the sidecars connect to) and reloaded when they
// change.
type policyCertificate struct {
	dir    string
	static bool
	names  []string
	now    func() time.Time

	mu      sync.Mutex
	current *tls.Certificate
	source  []byte // the files the current certificate comes from
	renewAt time.Time
}

func newPolicyCertificate(dir string, static bool, names []string) *policyCertificate {
	return &policyCertificate{dir: dir, static: static, names: names, now: time.Now}
}

// GetCertificate is tls.Config.GetCertificate.
func (p *policyCertificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current == nil {
		return nil, errors.New("the policy service has no certificate yet")
	}
	return p.current, nil
}

// Refresh loads or issues the certificate when there is none, its files changed, or it is due for renewal.
// It reports whether the certificate changed.
func (p *policyCertificate) Refresh() (bool, error) {
	if p.static {
		return p.refreshStatic()
	}
	caPEM, err := os.ReadFile(filepath.Join(p.dir, caCertFile))
	if err != nil {
		return false, fmt.Errorf("the policy service's CA (--%s %s): %w", FlagCertDir, p.dir, err)
	}
	caKeyPEM, err := os.ReadFile(filepath.Join(p.dir, caKeyFile))
	if err != nil {
		return false, fmt.Errorf("the policy service's CA key (--%s %s): %w", FlagCertDir, p.dir, err)
	}
	source := append(append([]byte{}, caPEM...), caKeyPEM...)
	p.mu.Lock()
	fresh := p.current != nil && bytes.Equal(source, p.source) && p.now().Before(p.renewAt)
	p.mu.Unlock()
	if fresh {
		return false, nil
	}
	cert, renewAt, err := issue(caPEM, caKeyPEM, p.names, p.now())
	if err != nil {
		return false, fmt.Errorf("issuing the policy service's certificate from --%s %s: %w", FlagCertDir, p.dir, err)
	}
	p.mu.Lock()
	p.current, p.source, p.renewAt = cert, source, renewAt
	p.mu.Unlock()
	return true, nil
}

func (p *policyCertificate) refreshStatic() (bool, error) {
	certPEM, err := os.ReadFile(filepath.Join(p.dir, certFile))
	if err != nil {
		return false, fmt.Errorf("the policy service's certificate (--%s): %w", FlagCertDir, err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(p.dir, keyFile))
	if err != nil {
		return false, fmt.Errorf("the policy service's key (--%s): %w", FlagCertDir, err)
	}
	source := append(append([]byte{}, certPEM...), keyPEM...)
	p.mu.Lock()
	same := p.current != nil && bytes.Equal(source, p.source)
	p.mu.Unlock()
	if same {
		return false, nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("the policy service's certificate (--%s %s): %w", FlagCertDir, p.dir, err)
	}
	p.mu.Lock()
	p.current, p.source = &cert, source
	p.mu.Unlock()
	return true, nil
}

// issue makes a serving certificate for names signed by the CA, and says when to renew it.
func issue(caPEM, caKeyPEM []byte, names []string, now time.Time) (*tls.Certificate, time.Time, error) {
	block, _ := pem.Decode(caPEM)
	if block == nil {
		return nil, time.Time{}, errors.New("ca.crt holds no PEM certificate")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("ca.crt: %w", err)
	}
	caKey, err := parsePrivateKey(caKeyPEM)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("ca.key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, time.Time{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, time.Time{}, err
	}
	notAfter := now.Add(policyCertValidity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0], Organization: []string{"egress.io"}},
		DNSNames:     names,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, time.Time{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, time.Time{}, err
	}
	cert := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	return cert, now.Add(notAfter.Sub(now) / 2), nil
}

// parsePrivateKey reads a PEM private key: PKCS#1 RSA (cert-controller's), PKCS#8 or SEC 1 EC.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PKCS#1, SEC 1 or PKCS#8 private key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", k)
	}
	return signer, nil
}

// policyServiceNames are the DNS names of the policy Service the certificate is for.
func policyServiceNames(service, namespace string) []string {
	svc := service + "." + namespace + ".svc"
	return []string{svc, service, service + "." + namespace, svc + ".cluster.local"}
}
