package httppath

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkOrigination measures one keep-alive request through the HTTP/1 path with TLS origination to a
// local HTTPS upstream (client, proxy and upstream share the CPU: use -cpuprofile and look at this package
// and its callees). The side-by-side figures against nginx come from make bench.
func BenchmarkOrigination(b *testing.B) {
	body := strings.Repeat("x", 100)
	up, bundle := tlsUpstream(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, body)
	}))
	p := port(b, up.URL)
	env := newProxyEnv(b, bundle, fmt.Sprintf("example.com:%d", p), fmt.Sprintf("127.0.0.1:%d", p))
	env.resolve("example.com", "127.0.0.1")
	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := fmt.Sprintf("GET /small HTTP/1.1\r\nHost: example.com.egress.local:%d\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n", p)
	b.ReportAllocs()
	defer reportCPU(b)()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := io.WriteString(c, req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkOriginationParallel is BenchmarkOrigination with 64 keep-alive connections at once.
func BenchmarkOriginationParallel(b *testing.B) {
	body := strings.Repeat("x", 100)
	up, bundle := tlsUpstream(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, body)
	}))
	p := port(b, up.URL)
	env := newProxyEnv(b, bundle, fmt.Sprintf("example.com:%d", p), fmt.Sprintf("127.0.0.1:%d", p))
	env.resolve("example.com", "127.0.0.1")
	req := fmt.Sprintf("GET /small HTTP/1.1\r\nHost: example.com.egress.local:%d\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n", p)
	b.SetParallelism(32)
	b.ReportAllocs()
	defer reportCPU(b)()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", env.addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for pb.Next() {
			if _, err := io.WriteString(c, req); err != nil {
				b.Error(err)
				return
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// reportCPU reports the process's CPU time (user and system, of the client, the proxy and the upstream
// together) per operation: the differences between two versions of the proxy show in it, where ns/op is
// mostly waiting.
func reportCPU(b *testing.B) func() {
	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	return func() {
		var after syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		used := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
