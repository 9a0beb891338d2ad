package webhook

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeRSACA writes ca.crt and ca.key into dir as cert-controller's rotator does (RSA, PKCS#1).
func writeRSACA(t *testing.T, dir, name string) *x509.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(caCertFile, "CERTIFICATE", der)
	write(caKeyFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	ca, _ := x509.ParseCertificate(der)
	return ca
}

func TestPolicyCertificateIsIssuedFromTheRotatorsCA(t *testing.T) {
	dir := t.TempDir()
	p := newPolicyCertificate(dir, false, policyServiceNames("egress-policy", "egress-system"))
	if _, err := p.GetCertificate(nil); err == nil {
		t.Fatal("a certificate before Refresh")
	}
	if _, err := p.Refresh(); err == nil {
		t.Fatal("Refresh without a CA")
	}
	ca := writeRSACA(t, dir, "egress-webhook-ca")
	if changed, err := p.Refresh(); err != nil || !changed {
		t.Fatalf("Refresh = %v, %v", changed, err)
	}
	cert, _ := p.GetCertificate(nil)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range []string{"egress-policy.egress-system.svc", "egress-policy.egress-system.svc.cluster.local", "egress-policy"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, ok := cert.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("key %T, want ECDSA (cheap handshakes)", cert.PrivateKey)
	}
	if changed, _ := p.Refresh(); changed {
		t.Error("re-issued with nothing changed")
	}
	// Half-way through its life it is renewed; a new CA replaces it at once.
	p.now = func() time.Time { return time.Now().Add(policyCertValidity/2 + time.Minute) }
	if changed, err := p.Refresh(); err != nil || !changed {
		t.Errorf("renewal: %v, %v", changed, err)
	}
	p.now = time.Now
	ca2 := writeRSACA(t, dir, "egress-webhook-ca-2")
	if changed, err := p.Refresh(); err != nil || !changed {
		t.Fatalf("new CA: %v, %v", changed, err)
	}
	cert, _ = p.GetCertificate(nil)
	roots2 := x509.NewCertPool()
	roots2.AddCert(ca2)
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: "egress-policy.egress-system.svc", Roots: roots2}); err != nil {
		t.Errorf("after the CA changed: %v", err)
	}
}

func TestPolicyCertificateStatic(t *testing.T) {
	dir := t.TempDir()
	writeRSACA(t, dir, "unused")
	p := newPolicyCertificate(dir, true, nil)
	if _, err := p.Refresh(); err == nil {
		t.Fatal("static without tls.crt")
	}
	// A CA's own pair stands in for a serving pair here.
	copyFile := func(from, to string) {
		b, err := os.ReadFile(filepath.Join(dir, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(caCertFile, certFile)
	copyFile(caKeyFile, keyFile)
	if changed, err := p.Refresh(); err != nil || !changed {
		t.Fatalf("static: %v, %v", changed, err)
	}
	if changed, _ := p.Refresh(); changed {
		t.Error("reloaded unchanged files")
	}
}
