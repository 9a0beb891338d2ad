package tunnel

import (
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"egress.io/egress/internal/testconn"
	"time"
)

func TestTunnelHalfClose(t *testing.T) {
	appClient, appServer := testconn.Pair(t)
	upSidecar, upServer := testconn.Pair(t)
	var sent, received atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- Join(NewPipes(), appServer, upSidecar, []byte("peeked "),
			func(n int64) { sent.Add(n) }, func(n int64) { received.Add(n) })
	}()

	// The app sends and closes its write half; the upstream sees the peeked bytes first, then EOF.
	appClient.Write([]byte("request"))
	appClient.CloseWrite()
	upServer.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(upServer)
	if err != nil || string(got) != "peeked request" {
		t.Fatalf("upstream read %q, %v", got, err)
	}
	// The other direction still works after the half-close.
	upServer.Write([]byte("response"))
	upServer.CloseWrite()
	appClient.SetDeadline(time.Now().Add(5 * time.Second))
	got, err = io.ReadAll(appClient)
	if err != nil || string(got) != "response" {
		t.Fatalf("app read %q, %v", got, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("tunnel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("tunnel did not end after both halves closed")
	}
	if sent.Load() != int64(len("peeked request")) || received.Load() != int64(len("response")) {
		t.Errorf("counted %d sent, %d received", sent.Load(), received.Load())
	}
}

func TestTunnelLargeTransfer(t *testing.T) {
	appClient, appServer := testconn.Pair(t)
	upSidecar, upServer := testconn.Pair(t)
	var received atomic.Int64
	go Join(NewPipes(), appServer, upSidecar, nil, func(int64) {}, func(n int64) { received.Add(n) })
	const size = 5<<20 + 123
	go func() {
		buf := make([]byte, 64<<10)
		for left := size; left > 0; {
			n, _ := upServer.Write(buf[:min(left, len(buf))])
			left -= n
		}
		upServer.Close()
	}()
	appClient.CloseWrite()
	appClient.SetDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, appClient)
	if err != nil || n != size {
		t.Fatalf("app received %d bytes, %v; want %d", n, err, size)
	}
	if received.Load() != size {
		t.Errorf("counted %d received", received.Load())
	}
}

func TestIdleTunnelsHoldNoPipes(t *testing.T) {
	pipes := NewPipes()
	before := openPipes(t)
	for range 50 {
		appClient, appServer := testconn.Pair(t)
		upSidecar, upServer := testconn.Pair(t)
		go Join(pipes, appServer, upSidecar, nil, func(int64) {}, func(int64) {})
		// One byte each way, then idle.
		appClient.Write([]byte("a"))
		upServer.Write([]byte("b"))
		buf := make([]byte, 1)
		upServer.SetDeadline(time.Now().Add(5 * time.Second))
		appClient.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(upServer, buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(appClient, buf); err != nil {
			t.Fatal(err)
		}
	}
	// 100 idle directions: only the few pipes kept for reuse stay open, not two per direction.
	if held := openPipes(t) - before; held > 2*4 {
		t.Fatalf("50 idle tunnels hold %d pipe file descriptors", held)
	}
}

// openPipes counts this process's file descriptors that are pipes.
func openPipes(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(target, "pipe:") {
			n++
		}
	}
	return n
}
