package sidecar_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"egress.io/egress/internal/netnstest"
)

// originIP serves origin.example.test: a Go HTTP server on :80 and HTTPS (HTTP/2 and HTTP/1.1) on :443
// whose answers test how faithfully the sidecar passes HTTP on, and a server-first protocol on :2525.
var originIP = netip.MustParseAddr("198.18.0.6")

// Bounds of the origin's waits: a test fails long before them, they only keep a broken run finite.
const originHold = 10 * time.Second

// origin is the state of origin.example.test's handlers.
type origin struct {
	mu      sync.Mutex
	release map[string]chan struct{} // /slow?token=T waits until /release?token=T
	counts  map[string]int           // requests to /flaky/ by method and path
}

// count counts one more request to key and returns how many there were.
func (o *origin) count(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.counts[key]++
	return o.counts[key]
}

// startOrigin serves origin.example.test in the world.
func (e *env) startOrigin(t *testing.T) {
	t.Helper()
	o := &origin{release: map[string]chan struct{}{}, counts: map[string]int{}}
	mux := http.NewServeMux()
	// /upload answers 401 at once and never reads the body, as origins do for uploads they refuse.
	mux.HandleFunc("/upload", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "who are you?", http.StatusUnauthorized)
	})
	// /slow?token=T sends its headers and "first|" at once, then the rest once /release?token=T is asked for.
	// With chunked=1 it has no Content-Length.
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		const first, rest = "first|", "rest of the body"
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", fmt.Sprint(len(first)+len(rest)))
		}
		io.WriteString(w, first)
		http.NewResponseController(w).Flush()
		select {
		case <-o.wait(r.URL.Query().Get("token")):
		case <-time.After(originHold):
		case <-r.Context().Done():
		}
		io.WriteString(w, rest)
	})
	mux.HandleFunc("/release", func(w http.ResponseWriter, r *http.Request) {
		close(o.wait(r.URL.Query().Get("token")))
		io.WriteString(w, "released\n")
	})
	// /flaky/NAME answers 503 to its first two requests, then 200 with how many it got.
	mux.HandleFunc("/flaky/", func(w http.ResponseWriter, r *http.Request) {
		n := o.count(r.Method + " " + r.URL.Path)
		if n <= 2 {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok after %d\n", n)
	})
	// /hang answers after originHold or when the client goes.
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(originHold):
		case <-r.Context().Done():
		}
	})
	// /failing answers 503, always.
	mux.HandleFunc("/failing", func(w http.ResponseWriter, r *http.Request) {
		o.count("failing")
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	// /whoami says for which host it answers a denied request (a rule set's deniedBackend).
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "you cannot go to %s right now\n", r.Header.Get("X-Egress-Original-Host"))
	})
	// /repos/ says what it was asked.
	mux.HandleFunc("/repos/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s\n", r.Method, r.URL.Path, r.Host)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "origin %s %s\n", r.Proto, r.Host)
	})

	cert, err := tls.LoadX509KeyPair(filepath.Join(e.dir, "origin.example.test.pem"), filepath.Join(e.dir, "origin.example.test.key"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := log.New(io.Discard, "", 0)
	plain := &http.Server{Handler: mux, ErrorLog: quiet}
	secure := &http.Server{Handler: mux, ErrorLog: quiet, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go plain.Serve(netnstest.Listen(t, e.pair.World, "tcp", netip.AddrPortFrom(originIP, 80).String()))
	go secure.ServeTLS(netnstest.Listen(t, e.pair.World, "tcp", netip.AddrPortFrom(originIP, 443).String()), "", "")
	// The same on the ports whose routes TestSidecarRoutes restricts.
	go plain.Serve(netnstest.Listen(t, e.pair.World, "tcp", netip.AddrPortFrom(originIP, 8080).String()))
	go secure.ServeTLS(netnstest.Listen(t, e.pair.World, "tcp", netip.AddrPortFrom(originIP, 8443).String()), "", "")
	t.Cleanup(func() { plain.Close(); secure.Close() })
	serveBanner(t, e.pair.World, netip.AddrPortFrom(originIP, 2525))
}

// wait returns the channel /release closes for token.
func (o *origin) wait(token string) chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	ch, ok := o.release[token]
	if !ok {
		ch = make(chan struct{})
		o.release[token] = ch
	}
	return ch
}

// serveBanner speaks a server-first protocol at addr: "220 origin ready" at once, then "221 bye" to the
// client's first line.
func serveBanner(t *testing.T, ns string, addr netip.AddrPort) {
	ln := netnstest.Listen(t, ns, "tcp", addr.String())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(originHold))
				io.WriteString(c, "220 origin ready\r\n")
				if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
					fmt.Fprintf(c, "221 bye to %s", line)
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
}
