package dnsproxy

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
)

// ReadResolvConf returns the nameservers of a resolv.conf file as host:port upstreams (port 53), in file
// order. Lines other than "nameserver", and nameserver values that are not IP addresses, are ignored, as
// the libc resolver does; search and ndots are the app's stub resolver's business. A file without a usable
// nameserver is an error.
func ReadResolvConf(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading resolv.conf: %w", err)
	}
	defer f.Close()

	var upstreams []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		addr, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		upstreams = append(upstreams, net.JoinHostPort(addr.Unmap().String(), "53"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading resolv.conf %s: %w", path, err)
	}
	if len(upstreams) == 0 {
		return nil, fmt.Errorf("reading resolv.conf %s: no nameserver with an IP address", path)
	}
	return upstreams, nil
}
