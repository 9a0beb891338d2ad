package env

import (
	"fmt"

	"egress.io/egress/internal/certs"
)

// Certs are the PEM files of the test CA and of the origin's certificate.
type Certs struct {
	CA   string // CA certificate: what the sidecar, nginx and the clients trust
	Cert string // the origin's certificate, for every name in ServerNames
	Key  string // its private key
}

// writeCerts makes a throwaway CA and one server certificate for names, valid for a day, in dir (mode 0644:
// every contender's UID reads them).
func writeCerts(dir string, names []string) (Certs, error) {
	ca, err := certs.NewCA(dir, "egress benchmark CA", 0)
	if err != nil {
		return Certs{}, fmt.Errorf("benchmark certificates: %w", err)
	}
	kp, err := ca.Server(dir, "origin", names...)
	if err != nil {
		return Certs{}, fmt.Errorf("benchmark certificates: %w", err)
	}
	return Certs{CA: ca.File, Cert: kp.Cert, Key: kp.Key}, nil
}
