package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"egress.io/egress/internal/testconn"
)

func TestReadWrite(t *testing.T) {
	a, b := testconn.Pair(t)
	ra, rb := Wrap(a), Wrap(b)
	// More than the socket buffers hold, so writes are partial and wait in the poller.
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<18)
	errc := make(chan error, 1)
	go func() {
		n, err := ra.Write(payload)
		if err == nil && n != len(payload) {
			err = io.ErrShortWrite
		}
		a.CloseWrite()
		errc <- err
	}()
	rb.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(rb)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("read %d bytes (%v), want the %d written", len(got), err, len(payload))
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if n, err := rb.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("read after EOF: %d, %v; want io.EOF", n, err)
	}
}

func TestReadDeadlineAndClose(t *testing.T) {
	a, _ := testconn.Pair(t)
	ra := Wrap(a)
	ra.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := ra.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v; want os.ErrDeadlineExceeded", err)
	}
	ra.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, err := ra.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	ra.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed connection: %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting Read")
	}
}

func TestWriteToResetConnection(t *testing.T) {
	a, b := testconn.Pair(t)
	b.SetLinger(0)
	b.Close() // RST
	ra := Wrap(a)
	var err error
	for range 100 {
		if _, err = ra.Write([]byte("x")); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "write" {
		t.Fatalf("write to a reset connection: %v; want a *net.OpError from write", err)
	}
}

// TestBothWaysAtOnce reads and writes one connection from two goroutines at once, each direction waiting
// in the poller (more than the socket buffers hold): each direction has its call's state of its own.
func TestBothWaysAtOnce(t *testing.T) {
	a, b := testconn.Pair(t)
	ra, rb := Wrap(a), Wrap(b)
	up := bytes.Repeat([]byte("0123456789abcdef"), 1<<17)
	down := bytes.Repeat([]byte("fedcba9876543210"), 1<<17)
	send := func(c net.Conn, payload []byte, errc chan<- error) {
		n, err := c.Write(payload)
		if err == nil && n != len(payload) {
			err = io.ErrShortWrite
		}
		c.(interface{ CloseWrite() error }).CloseWrite()
		errc <- err
	}
	errc := make(chan error, 2)
	go send(ra, up, errc)
	go send(rb, down, errc)
	type result struct {
		got []byte
		err error
	}
	atB := make(chan result, 1)
	go func() {
		rb.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(rb)
		atB <- result{got, err}
	}()
	ra.SetReadDeadline(time.Now().Add(10 * time.Second))
	gotA, err := io.ReadAll(ra)
	if err != nil || !bytes.Equal(gotA, down) {
		t.Errorf("a read %d bytes (%v), want the %d b wrote", len(gotA), err, len(down))
	}
	if r := <-atB; r.err != nil || !bytes.Equal(r.got, up) {
		t.Errorf("b read %d bytes (%v), want the %d a wrote", len(r.got), r.err, len(up))
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Errorf("write: %v", err)
		}
	}
}
