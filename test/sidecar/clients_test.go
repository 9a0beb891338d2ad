package sidecar_test

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
	"os"
	"strings"
	"time"
)

// Pod-side clients that the tests run as the app (netnstest helpers). Each resolves names with the pod's
// resolver, so through the sidecar's DNS proxy, and bounds every wait.

// clientTimeout bounds each helper's whole run.
const clientTimeout = 8 * time.Second

// helperSlowGet implements "slow-get URL RELEASE-URL": net/http's client with a 3 s response-header timeout
// GETs URL, reads its first 6 bytes, GETs RELEASE-URL (which lets the origin send the rest) and prints
// "STATUS BODY". It fails when the headers and first bytes do not arrive before the rest is released.
func helperSlowGet(args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return errors.New("usage: slow-get URL RELEASE-URL")
	}
	client := &http.Client{Timeout: clientTimeout, Transport: &http.Transport{ResponseHeaderTimeout: 3 * time.Second}}
	resp, err := client.Get(args[0])
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	first := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		return fmt.Errorf("first bytes: %w", err)
	}
	released, err := client.Get(args[1])
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	released.Body.Close()
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("rest of the body: %w", err)
	}
	fmt.Fprintf(stdout, "%d %s%s", resp.StatusCode, first, rest)
	return nil
}

// helperLateHTTP implements "late-http ADDRESS DELAY HOST...": connect to ADDRESS (host:port; a name is
// resolved first), wait DELAY, then send one GET / per HOST on the connection and print, per response, its
// status, X-Egress-Denied header and first body line.
func helperLateHTTP(args []string, stdout io.Writer) error {
	if len(args) < 3 {
		return errors.New("usage: late-http ADDRESS DELAY HOST...")
	}
	c, err := dialLate(args[0], args[1])
	if err != nil {
		return err
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, host := range args[2:] {
		if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("response for %s: %w", host, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		line, _, _ := strings.Cut(string(body), "\n")
		fmt.Fprintf(stdout, "%d %s|%s\n", resp.StatusCode, resp.Header.Get("X-Egress-Denied"), line)
	}
	return nil
}

// helperLateTLS implements "late-tls ADDRESS DELAY SERVER-NAME CA-FILE": connect, wait DELAY, then speak
// TLS for SERVER-NAME (verified against CA-FILE), GET / and print the body's first line.
func helperLateTLS(args []string, stdout io.Writer) error {
	if len(args) != 4 {
		return errors.New("usage: late-tls ADDRESS DELAY SERVER-NAME CA-FILE")
	}
	pem, err := os.ReadFile(args[3])
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c, err := dialLate(args[0], args[1])
	if err != nil {
		return err
	}
	defer c.Close()
	tc := tls.Client(c, &tls.Config{ServerName: args[2], RootCAs: roots, NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	fmt.Fprintf(tc, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", args[2])
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	line, _, _ := strings.Cut(string(body), "\n")
	fmt.Fprintf(stdout, "%d %s\n", resp.StatusCode, line)
	return nil
}

// helperBanner implements "banner ADDRESS": connect, wait for the server's greeting line without sending
// anything, answer "QUIT" and print both lines of the server.
func helperBanner(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: banner ADDRESS")
	}
	c, err := dialLate(args[0], "0s")
	if err != nil {
		return err
	}
	defer c.Close()
	br := bufio.NewReader(c)
	greeting, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	io.WriteString(c, "QUIT\r\n")
	bye, err := io.ReadAll(br)
	fmt.Fprintf(stdout, "%s%s", greeting, bye)
	return err
}

// dialLate connects to address (resolving a name with the pod's resolver) and waits delay before returning.
func dialLate(address, delay string) (net.Conn, error) {
	wait, err := time.ParseDuration(delay)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	d := net.Dialer{Resolver: &net.Resolver{PreferGo: true}}
	c, err := d.DialContext(ctx, "tcp4", address)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(clientTimeout))
	time.Sleep(wait)
	return c, nil
}
