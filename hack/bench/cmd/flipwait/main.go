// Command flipwait measures how fast a policy change is enforced. It sends GET requests back to back on
// one keep-alive connection through the sidecar and classifies each answer as "allowed" (200) or "denied"
// (403 with X-Egress-Denied). After the first answer it prints "ready STATE"; the caller then changes the
// rules. When an answer is in the -want state it prints "flipped UNIX_NANOS REQUESTS", the wall-clock time
// that answer arrived, and exits. It gives up after -timeout:
//
//	flipwait -url http://reload.example.test.egress.local/small -connect 240.0.0.1:80 -want allowed
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "flipwait:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("flipwait", flag.ContinueOnError)
	target := fs.String("url", "", "http URL to GET")
	connect := fs.String("connect", "", "host:port to dial instead of the URL's host")
	want := fs.String("want", "allowed", "state to wait for: allowed or denied")
	pause := fs.Duration("pause", 200*time.Microsecond, "pause between requests")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *want != "allowed" && *want != "denied" {
		return fmt.Errorf("-want %q: allowed or denied", *want)
	}
	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("-url %q: want an absolute http URL", *target)
	}
	addr := *connect
	if addr == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(*timeout)
	c.SetDeadline(deadline)
	br := bufio.NewReader(c)
	request := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: flipwait\r\n\r\n", u.RequestURI(), u.Host)
	for n := 1; ; n++ {
		if _, err := io.WriteString(c, request); err != nil {
			return fmt.Errorf("request %d: %w", n, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("response %d: %w", n, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		at := time.Now()
		state, err := classify(resp)
		if err != nil {
			return fmt.Errorf("response %d: %w", n, err)
		}
		if state == *want {
			fmt.Fprintf(stdout, "flipped %d %d\n", at.UnixNano(), n)
			return nil
		}
		if n == 1 {
			fmt.Fprintf(stdout, "ready %s\n", state)
		}
		if resp.Close {
			return fmt.Errorf("response %d closed the connection", n)
		}
		time.Sleep(*pause)
	}
}

// classify names the policy state an answer shows.
func classify(resp *http.Response) (string, error) {
	switch {
	case resp.StatusCode == http.StatusOK:
		return "allowed", nil
	case resp.StatusCode == http.StatusForbidden && resp.Header.Get("X-Egress-Denied") != "":
		return "denied", nil
	default:
		return "", fmt.Errorf("unexpected answer %s (X-Egress-Error: %q)", resp.Status, resp.Header.Get("X-Egress-Error"))
	}
}
