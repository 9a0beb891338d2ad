package netnstest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns add` pins named namespaces.
const netnsDir = "/run/netns"

// Do runs fn in this process with its thread inside network namespace ns, as root. Sockets fn creates
// belong to ns for their whole life, so Do is how a test opens a listener in a namespace and then
// serves it from any goroutine. fn runs on a goroutine of its own, locked to its OS thread: it must
// not start goroutines that expect to be in ns.
func Do(ns string, fn func() error) error {
	target, err := os.Open(filepath.Join(netnsDir, ns))
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", ns, err)
	}
	defer target.Close()
	done := make(chan error, 1)
	go func() {
		// Setns changes only this thread; if restoring it fails, the thread stays locked and the
		// runtime discards it when the goroutine exits, so no other goroutine ever runs in ns.
		runtime.LockOSThread()
		origin, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("opening this thread's network namespace: %w", err)
			return
		}
		defer origin.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("entering network namespace %s: %w", ns, err)
			return
		}
		fnErr := fn()
		if err := unix.Setns(int(origin.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("leaving network namespace %s: %w", ns, err)
			return
		}
		runtime.UnlockOSThread()
		done <- fnErr
	}()
	return <-done
}

// Listen opens a stream listener (network "tcp", "tcp4" or "tcp6") at address inside ns and closes
// it in t.Cleanup. It fails t on error.
func Listen(t T, ns, network, address string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := Do(ns, func() (err error) {
		ln, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		t.Fatalf("listening on %s %s in %s: %v", network, address, ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// ListenPacket opens a packet listener (network "udp", "udp4" or "udp6") at address inside ns and
// closes it in t.Cleanup. It fails t on error.
func ListenPacket(t T, ns, network, address string) net.PacketConn {
	t.Helper()
	var conn net.PacketConn
	err := Do(ns, func() (err error) {
		conn, err = net.ListenPacket(network, address)
		return err
	})
	if err != nil {
		t.Fatalf("listening on %s %s in %s: %v", network, address, ns, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
