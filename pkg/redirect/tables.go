package redirect

import (
	"fmt"
	"os/exec"

	"github.com/coreos/go-iptables/iptables"
)

// Tables is the part of go-iptables the Applier uses, for one address family. *iptables.IPTables
// implements it; tests use an in-memory fake.
type Tables interface {
	// ListChains returns the names of the table's chains, built-in ones first.
	ListChains(table string) ([]string, error)
	// List returns `iptables -S chain` output: "-P"/"-N" lines, then one "-A chain ..." line per rule.
	List(table, chain string) ([]string, error)
	NewChain(table, chain string) error
	// ClearChain flushes chain, creating it when missing.
	ClearChain(table, chain string) error
	DeleteChain(table, chain string) error
	Insert(table, chain string, pos int, rulespec ...string) error
	Append(table, chain string, rulespec ...string) error
	Delete(table, chain string, rulespec ...string) error
}

// lockWaitSeconds bounds the wait for the xtables lock, so a stuck lock fails the pod instead of hanging it.
const lockWaitSeconds = 30

// OpenTables returns the system's iptables (IPv4) or ip6tables (IPv6) through go-iptables. A missing
// binary is reported as a *MissingError.
func OpenTables(family Family) (Tables, error) {
	command := family.Command()
	if _, err := exec.LookPath(command); err != nil {
		return nil, &MissingError{What: command + " binary (install iptables, nf_tables backend, in the image)", Err: err}
	}
	proto := iptables.ProtocolIPv4
	if family == IPv6 {
		proto = iptables.ProtocolIPv6
	}
	t, err := iptables.New(iptables.IPFamily(proto), iptables.Timeout(lockWaitSeconds))
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", command, err)
	}
	return t, nil
}
