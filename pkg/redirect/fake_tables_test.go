package redirect

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// fakeTables is an in-memory Tables for one family that behaves like iptables where the Applier can
// tell: built-in chains exist, user chains must be created before use and be empty and unreferenced
// before deletion, and List prints rules in `iptables -S` form.
type fakeTables struct {
	tables map[string]*fakeTable
	// mutations counts calls that change something, so tests can show a rerun changes nothing.
	mutations int
	// failOn makes the first call whose description contains it fail with failWith.
	failOn   string
	failWith error
}

type fakeTable struct {
	order []string // chain names, built-in ones first, then user chains in creation order
	rules map[string][]Rule
}

var fakeBuiltins = map[string][]string{
	TableNAT:    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	TableFilter: {"INPUT", "FORWARD", "OUTPUT"},
}

func newFakeTables() *fakeTables {
	f := &fakeTables{tables: make(map[string]*fakeTable)}
	for name, builtins := range fakeBuiltins {
		f.tables[name] = &fakeTable{order: slices.Clone(builtins), rules: make(map[string][]Rule)}
	}
	return f
}

// fakeBuiltinTargets are the targets that are not chains.
var fakeBuiltinTargets = []string{"ACCEPT", "DROP", "RETURN", "REJECT", "REDIRECT", "DNAT", "SNAT", "MASQUERADE", "LOG"}

// errNoChain imitates iptables' message, which go-iptables' IsNotExist recognises.
//
//lint:ignore ST1005 iptables' own message, punctuation included, is what go-iptables matches
var errNoChain = errors.New("iptables: No chain/target/match by that name.")

func (f *fakeTables) check(op string, args ...string) error {
	desc := op + " " + strings.Join(args, " ")
	if f.failOn != "" && strings.Contains(desc, f.failOn) {
		f.failOn = ""
		return f.failWith
	}
	return nil
}

func (f *fakeTables) table(name string) (*fakeTable, error) {
	t, ok := f.tables[name]
	if !ok {
		return nil, fmt.Errorf("can't initialize iptables table `%s': Table does not exist", name)
	}
	return t, nil
}

func (t *fakeTable) has(chain string) bool { return slices.Contains(t.order, chain) }

func (t *fakeTable) builtin(chain string, table string) bool {
	return slices.Contains(fakeBuiltins[table], chain)
}

func (f *fakeTables) ListChains(table string) ([]string, error) {
	if err := f.check("ListChains", table); err != nil {
		return nil, err
	}
	t, err := f.table(table)
	if err != nil {
		return nil, err
	}
	return slices.Clone(t.order), nil
}

func (f *fakeTables) List(table, chain string) ([]string, error) {
	if err := f.check("List", table, chain); err != nil {
		return nil, err
	}
	t, err := f.table(table)
	if err != nil {
		return nil, err
	}
	if !t.has(chain) {
		return nil, errNoChain
	}
	var lines []string
	if t.builtin(chain, table) {
		lines = append(lines, "-P "+chain+" ACCEPT")
	} else {
		lines = append(lines, "-N "+chain)
	}
	for _, r := range t.rules[chain] {
		lines = append(lines, "-A "+chain+" "+formatRule(r))
	}
	return lines, nil
}

func (f *fakeTables) NewChain(table, chain string) error {
	if err := f.check("NewChain", table, chain); err != nil {
		return err
	}
	t, err := f.table(table)
	if err != nil {
		return err
	}
	if t.has(chain) {
		return errors.New("iptables: Chain already exists.")
	}
	f.mutations++
	t.order = append(t.order, chain)
	return nil
}

func (f *fakeTables) ClearChain(table, chain string) error {
	if err := f.check("ClearChain", table, chain); err != nil {
		return err
	}
	t, err := f.table(table)
	if err != nil {
		return err
	}
	f.mutations++
	if !t.has(chain) {
		t.order = append(t.order, chain)
	}
	delete(t.rules, chain)
	return nil
}

func (f *fakeTables) DeleteChain(table, chain string) error {
	if err := f.check("DeleteChain", table, chain); err != nil {
		return err
	}
	t, err := f.table(table)
	if err != nil {
		return err
	}
	switch {
	case !t.has(chain) || t.builtin(chain, table):
		return errNoChain
	case len(t.rules[chain]) > 0:
		return errors.New("iptables: Directory not empty.")
	}
	for _, rules := range t.rules {
		for _, r := range rules {
			if r.target() == chain {
				return errors.New("iptables: Too many links.")
			}
		}
	}
	f.mutations++
	t.order = slices.DeleteFunc(t.order, func(c string) bool { return c == chain })
	return nil
}

func (f *fakeTables) Insert(table, chain string, pos int, rulespec ...string) error {
	if err := f.check("Insert", append([]string{table, chain}, rulespec...)...); err != nil {
		return err
	}
	t, err := f.ruleTarget(table, chain, rulespec)
	if err != nil {
		return err
	}
	if pos < 1 || pos > len(t.rules[chain])+1 {
		return errors.New("iptables: Index of insertion too big.")
	}
	f.mutations++
	t.rules[chain] = slices.Insert(t.rules[chain], pos-1, Rule(slices.Clone(rulespec)))
	return nil
}

func (f *fakeTables) Append(table, chain string, rulespec ...string) error {
	if err := f.check("Append", append([]string{table, chain}, rulespec...)...); err != nil {
		return err
	}
	t, err := f.ruleTarget(table, chain, rulespec)
	if err != nil {
		return err
	}
	f.mutations++
	t.rules[chain] = append(t.rules[chain], Rule(slices.Clone(rulespec)))
	return nil
}

func (f *fakeTables) Delete(table, chain string, rulespec ...string) error {
	if err := f.check("Delete", append([]string{table, chain}, rulespec...)...); err != nil {
		return err
	}
	t, err := f.table(table)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(t.rules[chain], func(r Rule) bool { return slices.Equal(r, rulespec) })
	if i < 0 {
		return errors.New("iptables: Bad rule (does a matching rule exist in that chain?).")
	}
	f.mutations++
	t.rules[chain] = slices.Delete(t.rules[chain], i, i+1)
	return nil
}

// ruleTarget checks that chain exists and that the rule's target, when it is a chain, does too.
func (f *fakeTables) ruleTarget(table, chain string, rulespec []string) (*fakeTable, error) {
	t, err := f.table(table)
	if err != nil {
		return nil, err
	}
	if !t.has(chain) {
		return nil, errNoChain
	}
	target := Rule(rulespec).target()
	if target == "" || slices.Contains(fakeBuiltinTargets, target) {
		return t, nil
	}
	if !t.has(target) {
		return nil, errNoChain
	}
	return t, nil
}

// save renders the whole state like iptables-save, for comparisons and failure messages.
func (f *fakeTables) save() string {
	var b strings.Builder
	for _, name := range []string{TableFilter, TableNAT} {
		t := f.tables[name]
		fmt.Fprintf(&b, "*%s\n", name)
		for _, chain := range t.order {
			fmt.Fprintf(&b, ":%s\n", chain)
		}
		for _, chain := range t.order {
			for _, r := range t.rules[chain] {
				fmt.Fprintf(&b, "-A %s %s\n", chain, formatRule(r))
			}
		}
	}
	return b.String()
}
