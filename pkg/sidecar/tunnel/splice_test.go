package tunnel

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
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
		done <- newJoiner(t).Join(appServer, upSidecar, []byte("peeked "),
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
	go newJoiner(t).Join(appServer, upSidecar, nil, func(int64) {}, func(n int64) { received.Add(n) })
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
	j := newJoiner(t)
	before := openPipes(t)
	for range 50 {
		appClient, appServer := testconn.Pair(t)
		upSidecar, upServer := testconn.Pair(t)
		go j.Join(appServer, upSidecar, nil, func(int64) {}, func(int64) {})
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

func newJoiner(t *testing.T) *Joiner {
	t.Helper()
	j, err := NewJoiner()
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestIdleTunnelsHoldNoGoroutines: once idle for idleAfter, a tunnel's directions wait in the parker, not in
// goroutines (only the parker's one waits); bytes sent afterwards still go through, both ways, and EOF still ends the tunnel.
func TestIdleTunnelsHoldNoGoroutines(t *testing.T) {
	j := newJoiner(t)
	const tunnels = 20
	type ends struct{ app, up *net.TCPConn }
	var all []ends
	done := make(chan error, tunnels)
	before := runtime.NumGoroutine()
	for range tunnels {
		appClient, appServer := testconn.Pair(t)
		upSidecar, upServer := testconn.Pair(t)
		j.Tunnel(appServer, upSidecar, func(int64) {}, func(int64) {}, func(err error) { done <- err }).Start([]byte("hello"))
		all = append(all, ends{appClient, upServer})
	}
	for _, e := range all {
		expectRead(t, e.up, "hello")
	}
	waitFor(t, "idle tunnels to stop holding goroutines", func() bool { return runtime.NumGoroutine() <= before+1 })
	for i, e := range all {
		msg := fmt.Sprintf("request %d", i)
		e.app.Write([]byte(msg))
		expectRead(t, e.up, msg)
		e.up.Write([]byte("answer"))
		expectRead(t, e.app, "answer")
	}
	waitFor(t, "tunnels to park again", func() bool { return runtime.NumGoroutine() <= before+1 })
	for _, e := range all {
		e.app.CloseWrite()
		e.up.CloseWrite()
	}
	for range tunnels {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("tunnel: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a parked tunnel did not end after both halves closed")
		}
	}
}

// TestCloseParkedTunnel: closing a tunnel whose directions are parked ends it at once and closes both
// connections.
func TestCloseParkedTunnel(t *testing.T) {
	j := newJoiner(t)
	appClient, appServer := testconn.Pair(t)
	upSidecar, upServer := testconn.Pair(t)
	done := make(chan error, 1)
	before := runtime.NumGoroutine()
	tun := j.Tunnel(appServer, upSidecar, func(int64) {}, func(int64) {}, func(err error) { done <- err })
	tun.Start(nil)
	waitFor(t, "the tunnel to park", func() bool { return runtime.NumGoroutine() <= before+1 })
	tun.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("closing a parked tunnel did not end it")
	}
	for _, c := range []*net.TCPConn{appClient, upServer} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("read %d bytes, %v; want EOF: the tunnel's connection is not closed", n, err)
		}
	}
}

func expectRead(t *testing.T, c *net.TCPConn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != want {
		t.Fatalf("read %q, %v; want %q", buf, err, want)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
