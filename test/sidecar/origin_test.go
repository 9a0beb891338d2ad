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
}

// startOrigin serves origin.example.test in the world.
func (e *env) startOrigin(t *testing.T) {
	t.Helper()
	o := &origin{release: map[string]chan struct{}{}}
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
