package httppath

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawExchange writes raw on one connection to the proxy and returns everything read until the proxy
// closes it or nothing comes for a second.
func (env *proxyEnv) rawExchange(t *testing.T, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, raw)
	var out strings.Builder
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String()
		}
	}
}

func TestHTTP1Framing(t *testing.T) {
	env, _ := newUpstreamEnv(t, "api.example.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/trailers":
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Trailer", "X-Sum")
			fmt.Fprintf(w, "got %q with trailer %q", body, r.Trailer.Get("X-Check"))
			w.(http.Flusher).Flush()
			w.Header().Set("X-Sum", "42")
		case "/early-hints":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "final")
		case "/no-content":
			w.WriteHeader(http.StatusNoContent)
		case "/not-modified":
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	}))

	t.Run("chunked request with trailers, response with trailers", func(t *testing.T) {
		got := env.rawExchange(t, "POST /trailers HTTP/1.1\r\nHost: api.example.test\r\nTransfer-Encoding: chunked\r\nTrailer: X-Check\r\nConnection: close\r\n\r\n"+
			"5\r\nhello\r\n0\r\nX-Check: ok\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.Contains(got, "Transfer-Encoding: chunked") ||
			!strings.Contains(got, `got "hello" with trailer "ok"`) || !strings.Contains(got, "X-Sum: 42\r\n") {
			t.Errorf("got %q", got)
		}
	})
	t.Run("1xx responses are passed on", func(t *testing.T) {
		got := env.rawExchange(t, "GET /early-hints HTTP/1.1\r\nHost: api.example.test\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 103 Early Hints\r\n") || !strings.Contains(got, "</style.css>") || !strings.HasSuffix(got, "final") {
			t.Errorf("got %q", got)
		}
	})
	t.Run("HEAD, 204 and 304 have no body", func(t *testing.T) {
		got := env.rawExchange(t, "HEAD / HTTP/1.1\r\nHost: api.example.test\r\n\r\nGET /no-content HTTP/1.1\r\nHost: api.example.test\r\n\r\n"+
			"GET /not-modified HTTP/1.1\r\nHost: api.example.test\r\n\r\nGET / HTTP/1.1\r\nHost: api.example.test\r\nConnection: close\r\n\r\n")
		// Pipelined on one connection: a body where there is none would shift every later response.
		if strings.Count(got, "HTTP/1.1 ") != 4 || !strings.Contains(got, "Content-Length: 5\r\n") || !strings.Contains(got, "204 No Content") ||
			!strings.Contains(got, "304 Not Modified") || !strings.HasSuffix(got, "\r\n\r\nhello") {
			t.Errorf("got %q", got)
		}
	})
	t.Run("HTTP/1.0 client", func(t *testing.T) {
		got := env.rawExchange(t, "GET / HTTP/1.0\r\nHost: api.example.test\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.Contains(got, "Connection: close") || !strings.HasSuffix(got, "hello") {
			t.Errorf("got %q", got)
		}
	})
	t.Run("absolute form goes upstream in origin form", func(t *testing.T) {
		got := env.rawExchange(t, "GET http://api.example.test HTTP/1.1\r\nHost: api.example.test\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
			t.Errorf("got %q", got)
		}
	})
	t.Run("a head that does not parse", func(t *testing.T) {
		got := env.rawExchange(t, "GET / HTTP/1.1\r\nHost api.example.test\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 400 Bad Request\r\n") || !strings.Contains(got, "X-Egress-Error: bad_request") {
			t.Errorf("got %q", got)
		}
	})
	t.Run("a head over 1 MiB", func(t *testing.T) {
		got := env.rawExchange(t, "GET / HTTP/1.1\r\nHost: api.example.test\r\nX-Big: "+strings.Repeat("a", maxHeaderBytes+2*clientBufferSize)+"\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 431 ") {
			t.Errorf("got %.200q", got)
		}
	})
}

// TestHTTP1RetriesAClosedPooledConnection: an upstream that closed an idle keep-alive connection is not the
// app's problem; an idempotent request goes out again on a fresh connection.
func TestHTTP1RetriesAClosedPooledConnection(t *testing.T) {
	var conns atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nconn %d", n)
					// The first connection closes once its response is out, as a server's keep-alive
					// timeout would, while the sidecar keeps it in its pool.
					if n == 1 {
						time.Sleep(50 * time.Millisecond)
						c.(*net.TCPConn).SetLinger(0)
						return
					}
				}
			}()
		}
	}()
	p := uint16(ln.Addr().(*net.TCPAddr).Port)
	env := newProxyEnv(t, "", fmt.Sprintf("api.example.test:%d", p), fmt.Sprintf("127.0.0.1:%d", p))
	env.origPort.Store(uint32(p))
	env.resolve("api.example.test", "127.0.0.1")
	first := env.rawRoundTrips(t, "GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n")
	time.Sleep(200 * time.Millisecond)
	second := env.rawRoundTrips(t, "GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n")
	if fmt.Sprint(first, second) != "[200 OK ] [200 OK ]" || conns.Load() != 2 {
		t.Errorf("got %q then %q over %d upstream connections", first, second, conns.Load())
	}
}

// TestHTTP1ShutdownDrains: Shutdown closes idle app connections at once and lets a busy one finish its
// response.
func TestHTTP1ShutdownDrains(t *testing.T) {
	release := make(chan struct{})
	env, _ := newUpstreamEnv(t, "api.example.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "done")
	}))
	idle, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(idle), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: api.example.test\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	shut := make(chan struct{})
	go func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		env.path.Shutdown(ctx)
		close(shut)
	}()
	idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("the idle connection stayed open: %d, %v", n, err)
	}
	close(release)
	busy.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the busy request did not finish: %v %v", resp, err)
	}
	<-shut
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
