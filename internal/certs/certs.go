// Package certs makes throwaway X.509 material for tests, benchmarks and the local cluster: a CA, server
// certificates for names or addresses, client certificates for an identity, written as PEM files. Keys are
// ECDSA P-256 and everything is valid for a day (longer for a cluster, see CA.Validity), so nothing here is
// meant to outlive the run that made it.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// CA is a certificate authority held in memory; its certificate is also a PEM file.
type CA struct {
	// File is the CA certificate's PEM file; PEM is its content.
	File string
	PEM  []byte

	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	validity time.Duration
	serial   atomic.Int64
}

// NewCA makes a CA named commonName, valid for validity (a day when zero), and writes its certificate to
// dir/ca.pem (mode 0644: programs running as other users read it).
func NewCA(dir, commonName string, validity time.Duration) (*CA, error) {
	if validity == 0 {
		validity = 24 * time.Hour
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	ca := &CA{File: filepath.Join(dir, "ca.pem"), cert: cert, key: key, validity: validity}
	ca.serial.Store(1)
	ca.PEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(ca.File, ca.PEM, 0o644); err != nil {
		return nil, fmt.Errorf("writing the CA certificate: %w", err)
	}
	return ca, nil
}

// KeyPair is a certificate and its key as PEM files.
type KeyPair struct {
	Cert, Key string
}

// Server issues a server certificate for names (DNS names or IP addresses; the first is the subject) and
// writes it to dir/base.pem with its key in dir/base.key.
func (ca *CA) Server(dir, base string, names ...string) (KeyPair, error) {
	if len(names) == 0 {
		return KeyPair{}, fmt.Errorf("server certificate %s: no names", base)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: names[0]},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, name := range names {
		if ip := net.ParseIP(name); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, name)
		}
	}
	return ca.issue(dir, base, tmpl)
}

// Client issues a client certificate for user commonName in groups (the API server reads the groups from
// the organisations) and writes it to dir/base.pem with its key in dir/base.key.
func (ca *CA) Client(dir, base, commonName string, groups ...string) (KeyPair, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName, Organization: groups},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issue(dir, base, tmpl)
}

func (ca *CA) issue(dir, base string, tmpl *x509.Certificate) (KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, fmt.Errorf("key for %s: %w", base, err)
	}
	tmpl.SerialNumber = big.NewInt(ca.serial.Add(1))
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(ca.validity)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return KeyPair{}, fmt.Errorf("certificate for %s: %w", base, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return KeyPair{}, fmt.Errorf("key for %s: %w", base, err)
	}
	kp := KeyPair{Cert: filepath.Join(dir, base+".pem"), Key: filepath.Join(dir, base+".key")}
	if err := os.WriteFile(kp.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return KeyPair{}, fmt.Errorf("writing %s: %w", kp.Cert, err)
	}
	if err := os.WriteFile(kp.Key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o644); err != nil {
		return KeyPair{}, fmt.Errorf("writing %s: %w", kp.Key, err)
	}
	return kp, nil
}

// SigningKey writes a new ECDSA key pair for signing (service-account tokens) to dir/base.key (private,
// PKCS#8) and dir/base.pub (public, PKIX).
func SigningKey(dir, base string) (private, public string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("signing key %s: %w", base, err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("signing key %s: %w", base, err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("signing key %s: %w", base, err)
	}
	private, public = filepath.Join(dir, base+".key"), filepath.Join(dir, base+".pub")
	if err := os.WriteFile(private, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(public, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return "", "", err
	}
	return private, public, nil
}
