package redirect

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// fakeSystem is one fakeTables per family, handed to an Applier through its open function.
type fakeSystem struct {
	families map[Family]*fakeTables
	opened   []Family
	openErr  map[Family]error
}

func newFakeSystem() *fakeSystem {
	return &fakeSystem{families: map[Family]*fakeTables{IPv4: newFakeTables(), IPv6: newFakeTables()}}
}

func (s *fakeSystem) open(f Family) (Tables, error) {
	s.opened = append(s.opened, f)
	if err := s.openErr[f]; err != nil {
		return nil, err
	}
	return s.families[f], nil
}

func (s *fakeSystem) applier() *Applier { return NewApplier(slog.New(slog.DiscardHandler), s.open) }

func (s *fakeSystem) save() string {
	return "# IPv4\n" + s.families[IPv4].save() + "# IPv6\n" + s.families[IPv6].save()
}

func (s *fakeSystem) mutations() int { return s.families[IPv4].mutations + s.families[IPv6].mutations }

// addForeignRules installs rules someone else owns (another init container, a CNI) in every table.
func (s *fakeSystem) addForeignRules(t *testing.T) {
	t.Helper()
	for _, ft := range s.families {
		for _, table := range ownedTables {
			steps := []error{
				ft.NewChain(table, "FOREIGN"),
				ft.Append(table, "FOREIGN", "-p", "tcp", "-m", "tcp", "--dport", "9", "-j", "RETURN"),
				ft.Append(table, "OUTPUT", "-p", "tcp", "-m", "tcp", "--dport", "9", "-j", "FOREIGN"),
			}
			if err := errors.Join(steps...); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func testPlan(t *testing.T, families Families, flags map[string]string) Plan {
	t.Helper()
	return planCase{name: "test", flags: flags, families: families}.config(t).Plan(families)
}

// checkMatchesPlan lists every planned chain and OUTPUT through the Tables interface and compares
// them with the plan, as the netns test does with the real iptables.
func checkMatchesPlan(t *testing.T, s *fakeSystem, p Plan) {
	t.Helper()
	for _, rs := range p.Managed() {
		ft := s.families[rs.Family]
		for _, table := range rs.Tables {
			for _, c := range table.Chains {
				lines, err := ft.List(table.Name, c.Name)
				if err != nil {
					t.Fatal(err)
				}
				got, err := listedRules(c.Name, lines)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.EqualFunc(got, c.Rules, slices.Equal) {
					t.Errorf("%s %s/%s holds\n%v\nwant\n%v", rs.Family, table.Name, c.Name, got, c.Rules)
				}
			}
			lines, _ := ft.List(table.Name, builtinOutput)
			output, _ := listedRules(builtinOutput, lines)
			for _, j := range table.Jumps {
				if len(output) == 0 || !slices.Equal(output[0], j.Rule) {
					t.Errorf("%s %s/OUTPUT starts with %v, want the jump %v", rs.Family, table.Name, output, j.Rule)
				}
			}
		}
	}
}

func TestApplyInstallsPlanAndRerunChangesNothing(t *testing.T) {
	for _, c := range planCases {
		t.Run(c.name, func(t *testing.T) {
			s := newFakeSystem()
			plan := c.config(t).Plan(c.families)
			changes, err := s.applier().Apply(plan)
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) == 0 {
				t.Fatal("first Apply reported no changes")
			}
			checkMatchesPlan(t, s, plan)

			before, mutations := s.save(), s.mutations()
			changes, err = s.applier().Apply(plan)
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != 0 || s.mutations() != mutations {
				t.Errorf("second Apply changed something: %q (%d mutating calls)", changes, s.mutations()-mutations)
			}
			if after := s.save(); after != before {
				t.Errorf("second Apply changed the tables:\n%s", lineDiff(before, after))
			}
		})
	}
}

func TestCleanupRestoresTablesExactly(t *testing.T) {
	s := newFakeSystem()
	s.addForeignRules(t)
	before := s.save()

	plan := testPlan(t, Families{IPv6: true}, map[string]string{FlagExcludeOutboundPorts: "25"})
	if _, err := s.applier().Apply(plan); err != nil {
		t.Fatal(err)
	}
	checkMatchesPlan(t, s, plan)
	lines, _ := s.families[IPv4].List(TableNAT, builtinOutput)
	if len(lines) != 3 || !strings.Contains(lines[2], "-j FOREIGN") {
		t.Errorf("foreign OUTPUT rule not kept after the jump: %q", lines)
	}

	changes, err := s.applier().Cleanup(Families{IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	if after := s.save(); after != before {
		t.Errorf("Cleanup left the tables different from before Apply:\n%s", lineDiff(before, after))
	}
	// 4 tables: a jump each, one nat chain and two filter chains per family.
	if len(changes) != 2*(2+1+2) {
		t.Errorf("Cleanup made %d changes, want 10: %q", len(changes), changes)
	}

	mutations := s.mutations()
	changes, err = s.applier().Cleanup(Families{IPv6: true})
	if err != nil || len(changes) != 0 || s.mutations() != mutations {
		t.Errorf("second Cleanup: changes %q, err %v, %d mutating calls", changes, err, s.mutations()-mutations)
	}
}

func TestApplyReconfiguresToExactlyTheNewPlan(t *testing.T) {
	from := testPlan(t, Families{IPv6: true}, map[string]string{
		FlagExcludeOutboundCIDRs: "10.0.0.0/8,fd00::/8", FlagExcludeOutboundPorts: "25", FlagDropUDP: "false",
	})
	to := testPlan(t, Families{}, nil) // IPv6 now blocked: its nat chain must go

	s := newFakeSystem()
	s.addForeignRules(t)
	fresh := newFakeSystem()
	fresh.addForeignRules(t)
	if _, err := fresh.applier().Apply(to); err != nil {
		t.Fatal(err)
	}

	if _, err := s.applier().Apply(from); err != nil {
		t.Fatal(err)
	}
	changes, err := s.applier().Apply(to)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(changes, "IPv6 nat: removed chain EGRESS_OUTPUT") {
		t.Errorf("reconfiguring to a blocked IPv6 did not remove the IPv6 nat chain: %q", changes)
	}
	if got, want := s.save(), fresh.save(); got != want {
		t.Errorf("reconfigured tables differ from a fresh Apply:\n%s", lineDiff(want, got))
	}
}

func TestApplyRepairsDrift(t *testing.T) {
	plan := testPlan(t, Families{IPv6: true}, nil)
	fresh := newFakeSystem()
	if _, err := fresh.applier().Apply(plan); err != nil {
		t.Fatal(err)
	}

	s := newFakeSystem()
	if _, err := s.applier().Apply(plan); err != nil {
		t.Fatal(err)
	}
	v4 := s.families[IPv4]
	natRules := v4.tables[TableNAT].rules
	natRules[ChainOutput] = natRules[ChainOutput][1:] // someone deleted the loopback rule
	staleJump := []string{"-m", "comment", "--comment", "egress: an older version", "-j", ChainOutput}
	if err := errors.Join(
		v4.Append(TableFilter, builtinOutput, plan.Rulesets[0].Tables[1].Jumps[0].Rule...), // a duplicate jump
		v4.Append(TableNAT, builtinOutput, staleJump...),
	); err != nil {
		t.Fatal(err)
	}

	changes, err := s.applier().Apply(plan)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"IPv4 nat: wrote 6 rules to EGRESS_OUTPUT",
		fmt.Sprintf("IPv4 nat: removed jump %s from OUTPUT", formatRule(staleJump)),
		fmt.Sprintf("IPv4 filter: removed jump %s from OUTPUT", formatRule(plan.Rulesets[0].Tables[1].Jumps[0].Rule)),
	}
	if !slices.Equal(changes, want) {
		t.Errorf("repair changes:\n%q\nwant\n%q", changes, want)
	}
	if got, want := s.save(), fresh.save(); got != want {
		t.Errorf("repaired tables differ from a fresh Apply:\n%s", lineDiff(want, got))
	}
}

func TestApplyOpensOnlyManagedFamilies(t *testing.T) {
	s := newFakeSystem()
	plan := testPlan(t, Families{IPv6Unsupported: true}, nil)
	if _, err := s.applier().Apply(plan); err != nil {
		t.Fatal(err)
	}
	if _, err := s.applier().Cleanup(Families{IPv6Unsupported: true}); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(s.opened, IPv6) {
		t.Errorf("ip6tables opened on a kernel without IPv6: %v", s.opened)
	}
	if s.families[IPv6].mutations != 0 {
		t.Errorf("IPv6 tables changed on a kernel without IPv6")
	}
}

func TestApplyErrorsNameWhatIsMissing(t *testing.T) {
	kernelErr := errors.New("running [/usr/sbin/iptables -t nat -A EGRESS_OUTPUT ...]: exit status 2: " +
		"Warning: Extension REDIRECT revision 0 not supported, missing kernel module?\n" +
		"iptables v1.8.9 (nf_tables): RULE_APPEND failed (No such file or directory): rule in chain EGRESS_OUTPUT")
	s := newFakeSystem()
	s.families[IPv4].failOn, s.families[IPv4].failWith = "REDIRECT", kernelErr
	_, err := s.applier().Apply(testPlan(t, Families{IPv6: true}, nil))

	var missing *MissingError
	if !errors.As(err, &missing) || missing.What != "kernel support for iptables extension REDIRECT" {
		t.Fatalf("Apply error = %v, want a *MissingError naming REDIRECT", err)
	}
	if !errors.Is(err, kernelErr) {
		t.Errorf("Apply error does not wrap its cause: %v", err)
	}
	wantStart := `missing kernel support for iptables extension REDIRECT: adding rule "-p udp -m udp --dport 53 `
	if !strings.HasPrefix(err.Error(), wantStart) || !strings.Contains(err.Error(), "to IPv4 nat/EGRESS_OUTPUT: running [") {
		t.Errorf("Apply error = %q, want it to start with %q and name IPv4 nat/EGRESS_OUTPUT", err, wantStart)
	}
}

func TestApplyReportsAnUnopenableFamily(t *testing.T) {
	s := newFakeSystem()
	notFound := &MissingError{What: "ip6tables binary", Err: errors.New(`exec: "ip6tables": executable file not found in $PATH`)}
	s.openErr = map[Family]error{IPv6: notFound}
	_, err := s.applier().Apply(testPlan(t, Families{IPv6: true}, nil))
	if !errors.Is(err, notFound) || !strings.HasPrefix(err.Error(), "missing ip6tables binary: ") {
		t.Errorf("Apply error = %v, want the opener's MissingError", err)
	}
}

func TestPrefixesOf(t *testing.T) {
	list := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("0.0.0.0/0")}
	if got := prefixesOf(IPv4, list); len(got) != 2 || got[1].Bits() != 0 {
		t.Errorf("prefixesOf(IPv4) = %v", got)
	}
	if got := prefixesOf(IPv6, list); len(got) != 1 || got[0].String() != "fd00::/8" {
		t.Errorf("prefixesOf(IPv6) = %v", got)
	}
}
