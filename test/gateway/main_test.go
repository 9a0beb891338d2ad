// Package gateway_test runs egress gateways for real: the egress-init and egress-sidecar binaries in a
// pod's network namespace, two `egress-sidecar gateway` replicas in namespaces of their own, and a world
// whose servers accept connections only from the gateways' addresses (iptables in the world namespace), so
// a success proves the path. The gateways authenticate with TokenReview and read pods and rule sets from a
// real kube-apiserver (internal/controlplane). It needs root, ip, iptables, setpriv, curl and
// KUBEBUILDER_ASSETS (`make test` sets it); only -short skips it.
package gateway_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"egress.io/egress/internal/controlplane"
	"egress.io/egress/internal/netnstest"
)

// Built once by TestMain.
var (
	egressInit    string
	egressSidecar string
	cp            *controlplane.ControlPlane
)

func TestMain(m *testing.M) {
	netnstest.Main(map[string]netnstest.HelperFunc{"tunnel": helperTunnel})
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	remove, err := netnstest.BuildBinaries(map[string]*string{
		"egress.io/egress/cmd/egress-init":    &egressInit,
		"egress.io/egress/cmd/egress-sidecar": &egressSidecar,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := controlplane.Main(m, controlplane.Options{}, &cp)
	remove()
	os.Exit(code)
}

// helperTunnel implements "tunnel ADDRESS SERVER-NAME CA-FILE TOKEN-FILE TARGET": a hand-made tunnel
// request that skips the sidecar. It speaks TLS to ADDRESS (checking the certificate for SERVER-NAME),
// sends CONNECT TARGET with the token, and prints the status and the gateway's Egress-Reason; after a 200
// it sends "GET / HTTP/1.0" and prints the first line of the answer too.
func helperTunnel(args []string, stdout io.Writer) error {
	if len(args) != 5 {
		return errors.New("usage: tunnel ADDRESS SERVER-NAME CA-FILE TOKEN-FILE TARGET")
	}
	caPEM, err := os.ReadFile(args[2])
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	token, err := os.ReadFile(args[3])
	if err != nil {
		return err
	}
	d := &net.Dialer{Timeout: 3 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", args[0], &tls.Config{RootCAs: pool, ServerName: args[1]})
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", args[4], args[4], strings.TrimSpace(string(token)))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d %s\n", resp.StatusCode, resp.Header.Get("Egress-Reason"))
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	host, _, _ := net.SplitHostPort(args[4])
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host)
	r, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(stdout, "%d %s\n", r.StatusCode, strings.TrimSpace(string(body)))
	return nil
}
