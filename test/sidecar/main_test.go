// Package sidecar_test runs the real egress-init and egress-sidecar binaries in network namespaces
// against real servers (nginx, Go TLS and TCP servers, a test DNS server) and real clients (curl, Go
// helpers running as the app's UID). It needs root and nginx, curl, iptables, ip6tables, promtool and
// setpriv; only -short skips it.
package sidecar_test

import (
	"bufio"
	"context"
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

	"egress.io/egress/internal/netnstest"
)

// Binaries built once by TestMain.
var (
	egressInit    string
	egressSidecar string
)

func TestMain(m *testing.M) {
	netnstest.Main(map[string]netnstest.HelperFunc{
		"http1":       helperHTTP1,
		"resolve-tcp": helperResolveTCP,
		"slow-get":    helperSlowGet,
		"late-http":   helperLateHTTP,
		"late-tls":    helperLateTLS,
		"banner":      helperBanner,
	})
	flag.Parse()
	if !testing.Short() {
		remove, err := netnstest.BuildBinaries(map[string]*string{
			"egress.io/egress/cmd/egress-init":    &egressInit,
			"egress.io/egress/cmd/egress-sidecar": &egressSidecar,
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		code := m.Run()
		remove()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// helperHTTP1 implements "http1 ADDRESS HOST...": one connection to ADDRESS, one GET / per HOST on it
// (keep-alive), printing each response's status code and X-Egress-Denied header, one per line.
func helperHTTP1(args []string, stdout io.Writer) error {
	if len(args) < 2 {
		return errors.New("usage: http1 ADDRESS HOST...")
	}
	c, err := net.DialTimeout("tcp", args[0], 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for _, host := range args[1:] {
		if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: e2e\r\n\r\n", host); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("response for %s: %w", host, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Fprintf(stdout, "%d %s\n", resp.StatusCode, resp.Header.Get("X-Egress-Denied"))
	}
	return nil
}

// helperResolveTCP implements "resolve-tcp NAME PORT MESSAGE": resolve NAME with the system's resolver
// (the pod's resolv.conf, so through the sidecar's DNS proxy), connect to its first IPv4 address, send
// MESSAGE, close the sending side and print "IP reply".
func helperResolveTCP(args []string, stdout io.Writer) error {
	if len(args) != 3 {
		return errors.New("usage: resolve-tcp NAME PORT MESSAGE")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r := &net.Resolver{PreferGo: true}
	addrs, err := r.LookupNetIP(ctx, "ip4", args[0])
	if err != nil {
		return err
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(addrs[0].String(), args[1]), 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, args[2])
	c.(*net.TCPConn).CloseWrite()
	reply, err := io.ReadAll(c)
	fmt.Fprintf(stdout, "%s %s", addrs[0], strings.TrimSpace(string(reply)))
	return err
}
