package redirect

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

const (
	// procStatus holds the process's capability sets.
	procStatus = "/proc/self/status"
	// capNetAdmin is CAP_NET_ADMIN's bit (linux/capability.h), spelled out so the package builds anywhere.
	capNetAdmin = 12
)

// CheckNetAdmin returns a *MissingError when the process lacks CAP_NET_ADMIN in its effective set:
// iptables would fail anyway, but with a message that does not say why.
func CheckNetAdmin() error {
	status, err := os.ReadFile(procStatus)
	if err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	effective, err := effectiveCaps(string(status))
	if err != nil {
		return fmt.Errorf("reading capabilities from %s: %w", procStatus, err)
	}
	if effective&(1<<capNetAdmin) == 0 {
		return &MissingError{
			What: "capability NET_ADMIN",
			Err:  errors.New("egress-init changes iptables rules; add NET_ADMIN to the init container's securityContext.capabilities"),
		}
	}
	return nil
}

// effectiveCaps parses the CapEff line of /proc/self/status.
func effectiveCaps(status string) (uint64, error) {
	for line := range strings.Lines(status) {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		}
	}
	return 0, errors.New("no CapEff line")
}
