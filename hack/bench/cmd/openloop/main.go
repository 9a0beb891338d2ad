// Command openloop sends HTTP GET requests at a fixed rate over a bounded number of keep-alive
// connections and prints, as JSON, the latency distribution measured from each request's scheduled send
// time (so a stall is not hidden by coordinated omission), with counts of failed and dropped requests:
//
//	openloop -url http://api.example.test.egress.local/small -connect 240.0.0.1:80 \
//	         -rate 500 -duration 10s -connections 32
//
// -connect dials that address instead of resolving the URL's host (the Host header and the TLS server
// name still come from the URL). Each connection sends one unmeasured request first. The run is bounded by
// -duration, -max-requests and -drain, and then exits.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"egress.io/egress/hack/bench/internal/openloop"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "openloop:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("openloop", flag.ContinueOnError)
	target := fs.String("url", "", "URL to GET (http or https)")
	connect := fs.String("connect", "", "host:port to dial instead of the URL's host")
	caFile := fs.String("cacert", "", "PEM file of the CA that signed the server's certificate (https)")
	cfg := openloop.Config{}
	fs.Float64Var(&cfg.Rate, "rate", 500, "requests per second")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to schedule requests")
	fs.IntVar(&cfg.MaxRequests, "max-requests", 0, "at most this many requests (0: rate × duration)")
	fs.IntVar(&cfg.Workers, "connections", 32, "keep-alive connections, each with one request in flight at most")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "timeout of one request")
	fs.DurationVar(&cfg.Drain, "drain", 5*time.Second, "how long requests may finish after the last scheduled send")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url %q: want an absolute http or https URL", *target)
	}
	var roots *x509.CertPool
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("-cacert: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("-cacert %s: no PEM certificate", *caFile)
		}
	}
	newRequester := func(int) (openloop.Requester, error) {
		r := newHTTPRequester(u.String(), *connect, roots, u.Hostname())
		warmCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		if err := r.Do(warmCtx); err != nil {
			return nil, fmt.Errorf("warm-up request: %w", err)
		}
		return r, nil
	}
	res, err := openloop.Run(ctx, cfg, newRequester)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// httpRequester is one keep-alive connection's worth of HTTP client.
type httpRequester struct {
	client *http.Client
	url    string
}

func newHTTPRequester(target, connect string, roots *x509.CertPool, serverName string) *httpRequester {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	t := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if connect != "" {
				addr = connect
			}
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		DisableCompression:  true,
		TLSClientConfig:     &tls.Config{RootCAs: roots, ServerName: serverName},
	}
	return &httpRequester{client: &http.Client{Transport: t}, url: target}
}

// Do implements openloop.Requester: GET, read the whole body, and fail on a status other than 200.
func (r *httpRequester) Do(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
