package redirect

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Families describes the address families of the pod's network namespace, as Config.Plan needs them.
type Families struct {
	// IPv6 reports a routable IPv6 address (not loopback, not link-local) on a non-loopback interface.
	IPv6 bool
	// IPv6Unsupported reports a kernel without IPv6 (booted with ipv6.disable=1): no IPv6 can leave,
	// and ip6tables cannot work.
	IPv6Unsupported bool
}

// ipv6SysctlDir exists exactly when the kernel has an IPv6 stack.
const ipv6SysctlDir = "/proc/sys/net/ipv6"

// DetectFamilies inspects the current network namespace with netlink. It needs no privileges.
func DetectFamilies() (Families, error) {
	if _, err := os.Stat(ipv6SysctlDir); errors.Is(err, fs.ErrNotExist) {
		return Families{IPv6Unsupported: true}, nil
	}
	links, err := netlink.LinkList()
	if err != nil {
		return Families{}, fmt.Errorf("listing network interfaces: %w", err)
	}
	for _, link := range links {
		if link.Attrs().Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := netlink.AddrList(link, unix.AF_INET6)
		if err != nil {
			return Families{}, fmt.Errorf("listing IPv6 addresses of %s: %w", link.Attrs().Name, err)
		}
		for _, addr := range addrs {
			if addr.IP.IsGlobalUnicast() { // excludes loopback, link-local and multicast; includes ULA
				return Families{IPv6: true}, nil
			}
		}
	}
	return Families{}, nil
}
