package redirect

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"egress.io/egress/pkg/settings"
)

// planCase is one configuration whose plan is pinned by testdata/NAME.golden.
type planCase struct {
	name     string
	flags    map[string]string // flags parsed on top of DefaultConfig
	families Families
}

var planCases = []planCase{
	{name: "default", families: Families{IPv6: true}},
	{name: "default-ipv4-only-pod", families: Families{}},
	{name: "default-no-ipv6-kernel", families: Families{IPv6Unsupported: true}},
	{
		name: "exclusions",
		flags: map[string]string{
			FlagExcludeOutboundCIDRs: "10.0.0.0/8, 10.96.0.0/12, fd00:10::/48",
			FlagExcludeOutboundPorts: "25,8000-8080",
		},
		families: Families{IPv6: true},
	},
	{
		name:     "include-ipv4-only",
		flags:    map[string]string{FlagIncludeOutboundCIDRs: "203.0.113.0/24,198.51.100.7"},
		families: Families{IPv6: true},
	},
	{name: "udp-allowed", flags: map[string]string{FlagDropUDP: "false"}, families: Families{IPv6: true}},
	{
		name: "custom-ids-ipv6-off",
		flags: map[string]string{
			FlagCapturePort: "16001", FlagDNSPort: "16053", FlagSidecarUID: "1337", FlagSidecarGID: "1338",
			FlagIPv6: "off",
		},
		families: Families{IPv6: true},
	},
	{name: "ipv6-on", flags: map[string]string{FlagIPv6: "on"}, families: Families{}},
}

func (c planCase) config(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig()
	var args []string
	for name, value := range c.flags {
		args = append(args, "--"+name+"="+value)
	}
	if err := settings.Parse(cfg.Flags(), args, settings.NoEnv); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPlanGolden(t *testing.T) {
	for _, c := range planCases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.config(t)
			plan := cfg.Plan(c.families)
			header := fmt.Sprintf("# egress-init %s\n# families: %+v\n", strings.Join(cfg.Args(), " "), c.families)
			checkGolden(t, c.name, header+plan.String())
		})
	}
}

func TestPlanIsPure(t *testing.T) {
	for _, c := range planCases {
		cfg := c.config(t)
		if a, b := cfg.Plan(c.families), cfg.Plan(c.families); !reflect.DeepEqual(a, b) {
			t.Errorf("%s: two plans of the same inputs differ", c.name)
		}
	}
}

// TestPlanInvariants checks what every plan must hold, whatever the goldens say.
func TestPlanInvariants(t *testing.T) {
	for _, c := range planCases {
		cfg := c.config(t)
		plan := cfg.Plan(c.families)
		if len(plan.Rulesets) != 2 || plan.Rulesets[0].Family != IPv4 || plan.Rulesets[1].Family != IPv6 {
			t.Fatalf("%s: want an IPv4 then an IPv6 ruleset, got %+v", c.name, plan.Rulesets)
		}
		for _, rs := range plan.Rulesets {
			where := fmt.Sprintf("%s %s", c.name, rs.Family)
			if (rs.Mode == Unmanaged) != (len(rs.Tables) == 0) {
				t.Errorf("%s: mode %s with %d tables", where, rs.Mode, len(rs.Tables))
			}
			for _, table := range rs.Tables {
				checkTableInvariants(t, where+" "+table.Name, table, rs.Mode)
			}
		}
	}
}

func checkTableInvariants(t *testing.T, where string, table Table, mode Mode) {
	t.Helper()
	var chains []string
	for _, c := range table.Chains {
		chains = append(chains, c.Name)
	}
	var all []Rule
	for _, c := range table.Chains {
		if !slices.Contains(ownedChains, c.Name) {
			t.Errorf("%s: chain %s is not in ownedChains, so Cleanup would leave it", where, c.Name)
		}
		all = append(all, c.Rules...)
	}
	for _, j := range table.Jumps {
		if j.Chain != builtinOutput || j.Rule.target() != ChainOutput {
			t.Errorf("%s: jump %q, want OUTPUT -> %s", where, j.Rule, ChainOutput)
		}
		all = append(all, j.Rule)
	}
	for _, r := range all {
		comment := commentOf(r)
		switch {
		case !strings.HasPrefix(comment, commentPrefix):
			t.Errorf("%s: rule %q has no %q comment", where, formatRule(r), commentPrefix)
		case strings.ContainsAny(comment, `'"\`) || len(comment) > 255:
			// iptables-save escapes quotes; without them the rendered plan is byte-for-byte what it prints.
			t.Errorf("%s: comment %q has a quote or backslash, or exceeds 255 bytes", where, comment)
		}
		if target := r.target(); strings.HasPrefix(target, "EGRESS_") && !slices.Contains(chains, target) {
			t.Errorf("%s: rule %q jumps to unplanned chain %s", where, formatRule(r), target)
		}
	}
	// Whatever else a plan does, local traffic, redirected traffic and the sidecar's pass before anything
	// is redirected, dropped or refused.
	output := table.Chains[0]
	if output.Name != ChainOutput || len(output.Rules) < 3 {
		t.Fatalf("%s: first chain is %s with %d rules", where, output.Name, len(output.Rules))
	}
	if !containsSeq(output.Rules[0], []string{"-o", "lo"}) {
		t.Errorf("%s: first rule is %q, want -o lo", where, formatRule(output.Rules[0]))
	}
	exempt := [][]string{{"-o", "lo"}, {"--uid-owner"}, {"--gid-owner"}}
	if table.Name == TableFilter && mode == Intercept {
		exempt = append(exempt, []string{"-d", redirectTarget[IPv4]}) // or IPv6's, checked below
	}
	firstAction := slices.IndexFunc(output.Rules, func(r Rule) bool { return r.target() != "RETURN" })
	for _, want := range exempt {
		i := slices.IndexFunc(output.Rules, func(r Rule) bool {
			return containsSeq(r, want) || (want[0] == "-d" && containsSeq(r, []string{"-d", redirectTarget[IPv6]}))
		})
		if i < 0 || i > firstAction || output.Rules[i].target() != "RETURN" {
			t.Errorf("%s: no %q ... -j RETURN before the first redirect or refusal (rule %d)", where, want, firstAction+1)
		}
	}
	if table.Name == TableFilter {
		last := output.Rules[len(output.Rules)-1]
		if last.target() != ChainReject {
			t.Errorf("%s: last rule %q, want a jump to %s", where, formatRule(last), ChainReject)
		}
		reject := table.Chains[1].Rules
		if final := reject[len(reject)-1]; final.target() != "REJECT" || containsSeq(final, []string{"-p"}) {
			t.Errorf("%s: %s ends with %q, want an unconditional REJECT", where, ChainReject, formatRule(final))
		}
	}
	if mode == Block && table.Name == TableNAT {
		t.Errorf("%s: a blocked family needs no nat rules", where)
	}
}

func commentOf(r Rule) string {
	for i := 0; i+1 < len(r); i++ {
		if r[i] == "--comment" {
			return r[i+1]
		}
	}
	return ""
}

func containsSeq(r Rule, seq []string) bool {
	for i := 0; i+len(seq) <= len(r); i++ {
		if slices.Equal(r[i:i+len(seq)], seq) {
			return true
		}
	}
	return false
}

func TestPlanIPv6Modes(t *testing.T) {
	tests := []struct {
		mode     IPv6Mode
		families Families
		want     Mode
	}{
		{IPv6Auto, Families{IPv6: true}, Intercept},
		{IPv6Auto, Families{}, Block},
		{IPv6Auto, Families{IPv6Unsupported: true}, Unmanaged},
		{IPv6On, Families{}, Intercept},
		{IPv6On, Families{IPv6Unsupported: true}, Intercept}, // fails loudly at apply time, never silently open
		{IPv6Off, Families{IPv6: true}, Block},
		{IPv6Off, Families{IPv6Unsupported: true}, Unmanaged},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.IPv6 = tt.mode
		plan := cfg.Plan(tt.families)
		if got := plan.Rulesets[1].Mode; got != tt.want {
			t.Errorf("--ipv6=%s with %+v: IPv6 mode %s, want %s", tt.mode, tt.families, got, tt.want)
		}
		if got := plan.Rulesets[0].Mode; got != Intercept {
			t.Errorf("--ipv6=%s with %+v: IPv4 mode %s, want intercept", tt.mode, tt.families, got)
		}
	}
}
