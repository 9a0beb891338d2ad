// Command holdconns opens N keep-alive connections, sends one GET on each, reads the response, and then
// holds them all open and idle: the load of the memory benchmark. It prints "ready OPEN FAILED" once every
// connection is open and answered, holds them until its standard input closes (or -hold passes), closes
// them, prints "closed" and exits:
//
//	holdconns -url http://api.example.test.egress.local/small -connect 240.0.0.1:80 -n 1000
//	holdconns -url https://api.example.test/small -connect 198.18.0.2:443 -cacert ca.pem -n 1000
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "holdconns:", err)
		os.Exit(1)
	}
}

// options are the parsed command line.
type options struct {
	url      *url.URL
	connect  string
	roots    *x509.CertPool
	n        int
	parallel int
	hold     time.Duration
	timeout  time.Duration
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("holdconns", flag.ContinueOnError)
	target := fs.String("url", "", "URL to GET once on each connection (http, or https for TLS connections)")
	fs.StringVar(&o.connect, "connect", "", "host:port to dial instead of the URL's host")
	caFile := fs.String("cacert", "", "PEM file of the CA of the server's certificate (https)")
	fs.IntVar(&o.n, "n", 1000, "connections to open and hold")
	fs.IntVar(&o.parallel, "parallel", 32, "connections opened at the same time")
	fs.DurationVar(&o.hold, "hold", 5*time.Minute, "longest time to hold the connections")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout to open one connection and read its response")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("-url %q: want an absolute http or https URL", *target)
	}
	o.url = u
	if o.connect == "" {
		o.connect = u.Host
		if u.Port() == "" {
			o.connect = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
		}
	}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return o, fmt.Errorf("-cacert: %w", err)
		}
		o.roots = x509.NewCertPool()
		if !o.roots.AppendCertsFromPEM(pem) {
			return o, fmt.Errorf("-cacert %s: no PEM certificate", *caFile)
		}
	}
	return o, nil
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	conns := make([]net.Conn, o.n)
	errs := make([]error, o.n)
	sem := make(chan struct{}, max(o.parallel, 1))
	var wg sync.WaitGroup
	for i := range o.n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conns[i], errs[i] = open(o)
		}()
	}
	wg.Wait()
	failed := 0
	var first error
	for _, err := range errs {
		if err != nil {
			failed++
			first = cmpOr(first, err)
		}
	}
	fmt.Fprintf(stdout, "ready %d %d\n", o.n-failed, failed)
	if first != nil {
		fmt.Fprintln(os.Stderr, "holdconns: first failure:", first)
	}

	released := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin) // until the parent closes our standard input
		close(released)
	}()
	select {
	case <-released:
	case <-time.After(o.hold):
	}
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	fmt.Fprintln(stdout, "closed")
	return nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// open dials, speaks TLS for https, sends one GET and reads the whole 200 response, leaving the
// connection idle and open.
func open(o options) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", o.connect)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(o.timeout))
	if o.url.Scheme == "https" {
		tc := tls.Client(c, &tls.Config{ServerName: o.url.Hostname(), RootCAs: o.roots, NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
	}
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: holdconns\r\n\r\n", o.url.RequestURI(), o.url.Host); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
