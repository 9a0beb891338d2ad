package testworld

import (
	"os"
	"path/filepath"

	"egress.io/egress/internal/certs"
)

// WriteCerts makes a test CA in dir/ca.pem and, for each name (a DNS name or an IP address), a server
// certificate signed by it in dir/NAME.pem with its key in dir/NAME.key. It returns the CA's path.
func WriteCerts(t T, dir string, names ...string) (caFile string) {
	t.Helper()
	ca, err := certs.NewCA(dir, "egress test CA", 0)
	if err != nil {
		t.Fatalf("%v", err)
	}
	for _, name := range names {
		if _, err := ca.Server(dir, name, name); err != nil {
			t.Fatalf("%v", err)
		}
	}
	return ca.File
}

// WriteServingCert writes dir/tls.crt and dir/tls.key for name (a DNS name or an IP address), the layout
// controller-runtime's webhook server reads, signed by a new CA whose certificate it returns as PEM.
func WriteServingCert(t T, dir, name string) (caPEM []byte) {
	t.Helper()
	ca, err := certs.NewCA(dir, "egress test CA", 0)
	if err != nil {
		t.Fatalf("%v", err)
	}
	kp, err := ca.Server(dir, "serving", name)
	if err != nil {
		t.Fatalf("%v", err)
	}
	for from, to := range map[string]string{kp.Cert: "tls.crt", kp.Key: "tls.key"} {
		if err := os.Rename(from, filepath.Join(dir, to)); err != nil {
			t.Fatalf("serving certificate: %v", err)
		}
	}
	return ca.PEM
}
