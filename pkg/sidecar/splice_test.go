package sidecar

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func TestTunnelHalfClose(t *testing.T) {
	appClient, appServer := tcpPair(t)
	upSidecar, upServer := tcpPair(t)
	var sent, received atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- tunnel(appServer.(*net.TCPConn), upSidecar.(*net.TCPConn), []byte("peeked "),
			func(n int64) { sent.Add(n) }, func(n int64) { received.Add(n) })
	}()

	// The app sends and closes its write half; the upstream sees the peeked bytes first, then EOF.
	appClient.Write([]byte("request"))
	appClient.(*net.TCPConn).CloseWrite()
	upServer.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(upServer)
	if err != nil || string(got) != "peeked request" {
		t.Fatalf("upstream read %q, %v", got, err)
	}
	// The other direction still works after the half-close.
	upServer.Write([]byte("response"))
	upServer.(*net.TCPConn).CloseWrite()
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
	appClient, appServer := tcpPair(t)
	upSidecar, upServer := tcpPair(t)
	var received atomic.Int64
	go tunnel(appServer.(*net.TCPConn), upSidecar.(*net.TCPConn), nil, func(int64) {}, func(n int64) { received.Add(n) })
	const size = 5*spliceChunk + 123
	go func() {
		buf := make([]byte, 64<<10)
		for left := size; left > 0; {
			n, _ := upServer.Write(buf[:min(left, len(buf))])
			left -= n
		}
		upServer.Close()
	}()
	appClient.(*net.TCPConn).CloseWrite()
	appClient.SetDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, appClient)
	if err != nil || n != size {
		t.Fatalf("app received %d bytes, %v; want %d", n, err, size)
	}
	if received.Load() != size {
		t.Errorf("counted %d received", received.Load())
	}
}
