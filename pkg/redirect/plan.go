package redirect

import (
	"fmt"
	"strings"
)

// Family is an address family, each with its own iptables command and tables.
type Family int

// The address families, in the order a Plan lists them.
const (
	IPv4 Family = iota
	IPv6
)

// String returns "IPv4" or "IPv6".
func (f Family) String() string {
	if f == IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// Command returns the iptables command of f: "iptables" or "ip6tables".
func (f Family) Command() string {
	if f == IPv6 {
		return "ip6tables"
	}
	return "iptables"
}

// Mode is what a Plan does with one address family.
type Mode int

const (
	// Intercept redirects TCP and DNS to the sidecar and refuses the rest, as configured.
	Intercept Mode = iota
	// Block refuses all egress of the family but loopback and the sidecar's own.
	Block
	// Unmanaged installs nothing: the kernel has no such stack, so nothing of the family can leave.
	Unmanaged
)

// String describes m for the header of a rendered plan.
func (m Mode) String() string {
	switch m {
	case Intercept:
		return "intercept"
	case Block:
		return "block"
	}
	return "unmanaged"
}

// Plan is every rule egress-init owns, per address family, as data. Config.Plan builds it; an Applier
// installs it; String renders it in iptables-restore form.
type Plan struct {
	Rulesets []Ruleset // IPv4 first, then IPv6
}

// Ruleset is the plan for one address family.
type Ruleset struct {
	Family Family
	Mode   Mode
	Reason string  // why this mode, e.g. "--ipv6=auto and the pod has no routable IPv6 address"
	Tables []Table // none when Mode is Unmanaged
}

// Table is what egress-init owns in one iptables table.
type Table struct {
	Name   string  // "nat" or "filter"
	Chains []Chain // own chains: created, then filled in this order
	Jumps  []Jump  // rules inserted at the top of built-in chains once the own chains are filled
}

// Chain is an own chain and its rules, in order.
type Chain struct {
	Name  string
	Rules []Rule
}

// Jump is a rule inserted at the top of a built-in chain (OUTPUT) to enter an own chain.
type Jump struct {
	Chain string // the built-in chain, e.g. "OUTPUT"
	Rule  Rule
}

// Rule is one rule as iptables arguments after "-A CHAIN", in the canonical order `iptables -S` lists
// them, so a listed rule compares equal to its planned one.
type Rule []string

// Managed returns the rulesets that install rules, i.e. all but Unmanaged ones.
func (p Plan) Managed() []Ruleset {
	var managed []Ruleset
	for _, rs := range p.Rulesets {
		if rs.Mode != Unmanaged {
			managed = append(managed, rs)
		}
	}
	return managed
}

// String renders p in iptables-restore form, one section per family headed by a comment. The sections
// show what the Applier installs; fed to `iptables-restore --noflush` they would install it once, but
// unlike the Applier not idempotently (the -I jumps would repeat).
func (p Plan) String() string {
	var b strings.Builder
	for i, rs := range p.Rulesets {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(rs.String())
	}
	return b.String()
}

// String renders rs in iptables-restore form, headed by a comment naming the family and mode.
func (rs Ruleset) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s (%s-restore format): %s", rs.Family, rs.Family.Command(), rs.Mode)
	if rs.Reason != "" {
		fmt.Fprintf(&b, ": %s", rs.Reason)
	}
	b.WriteString("\n")
	for _, t := range rs.Tables {
		fmt.Fprintf(&b, "*%s\n", t.Name)
		for _, c := range t.Chains {
			fmt.Fprintf(&b, ":%s - [0:0]\n", c.Name)
		}
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				fmt.Fprintf(&b, "-A %s %s\n", c.Name, formatRule(r))
			}
		}
		for _, j := range t.Jumps {
			fmt.Fprintf(&b, "-I %s 1 %s\n", j.Chain, formatRule(j.Rule))
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// table returns the planned table named name, or an empty one when the plan owns nothing there.
func (rs Ruleset) table(name string) Table {
	for _, t := range rs.Tables {
		if t.Name == name {
			return t
		}
	}
	return Table{Name: name}
}
