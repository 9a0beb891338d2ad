package sidecar

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
)

// listenCapture binds the capture port on every listen address. An IPv6 address is skipped with a warning
// when the pod has no IPv6.
func listenCapture(cfg Config, log *slog.Logger) ([]*net.TCPListener, error) {
	var out []*net.TCPListener
	for _, a := range cfg.ListenAddrs {
		addr := net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, cfg.CapturePort))
		ln, err := net.ListenTCP("tcp", addr)
		if err != nil {
			if a.Is6() && ipv6Unavailable(err) {
				log.Warn("IPv6 is not available; not capturing on this address", "addr", addr.String(), "error", err)
				continue
			}
			closeListeners(out)
			return nil, fmt.Errorf("--%s %d on %s: %w", FlagCapturePort, cfg.CapturePort, a, err)
		}
		out = append(out, ln)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--%s: no address of --%s could be bound", FlagCapturePort, FlagListenAddrs)
	}
	return out, nil
}

func ipv6Unavailable(err error) bool {
	return errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EPROTONOSUPPORT)
}

func closeListeners(lns []*net.TCPListener) {
	for _, ln := range lns {
		ln.Close()
	}
}
