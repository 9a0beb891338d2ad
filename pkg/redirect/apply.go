package redirect

import (
	"fmt"
	"log/slog"
	"slices"
)

// Applier makes the kernel's tables match a Plan, and Cleanup removes what it owns. It is the only code
// in the package that changes the tables. Both are idempotent: when the tables already match, they
// list rules and change nothing.
type Applier struct {
	open   func(Family) (Tables, error)
	log    *slog.Logger
	opened map[Family]Tables
}

// NewApplier returns an Applier that reaches each family's tables through open (OpenTables in
// production), opening them only for the families a Plan or Cleanup touches.
func NewApplier(log *slog.Logger, open func(Family) (Tables, error)) *Applier {
	return &Applier{open: open, log: log, opened: make(map[Family]Tables)}
}

// Apply creates the own chains of p, fills those whose rules differ from the plan, inserts the jumps
// from OUTPUT and removes own chains and jumps the plan no longer has. It returns one line per change,
// none when the tables already matched. Errors naming a missing prerequisite are *MissingError.
func (a *Applier) Apply(p Plan) ([]string, error) {
	var changes []string
	for _, rs := range p.Managed() {
		for _, name := range ownedTables {
			if err := a.reconcile(rs.Family, rs.table(name), &changes); err != nil {
				return changes, explain(err)
			}
		}
	}
	return changes, nil
}

// Cleanup removes every jump to an own chain from OUTPUT and every own chain, in nat and filter of
// each family the kernel has, leaving foreign rules and chains as they were. It returns one line per
// change, none when there was nothing to remove.
func (a *Applier) Cleanup(families Families) ([]string, error) {
	present := []Family{IPv4}
	if !families.IPv6Unsupported {
		present = append(present, IPv6)
	}
	var changes []string
	for _, family := range present {
		for _, name := range ownedTables {
			if err := a.reconcile(family, Table{Name: name}, &changes); err != nil {
				return changes, explain(err)
			}
		}
	}
	return changes, nil
}

func (a *Applier) tables(family Family) (Tables, error) {
	if t, ok := a.opened[family]; ok {
		return t, nil
	}
	t, err := a.open(family)
	if err != nil {
		return nil, err
	}
	a.opened[family] = t
	return t, nil
}

// reconcile makes one table of one family hold exactly the planned own chains and jumps.
func (a *Applier) reconcile(family Family, planned Table, changes *[]string) error {
	t, err := a.tables(family)
	if err != nil {
		return err
	}
	s := &tableSync{family: family, table: planned.Name, t: t, log: a.log, changes: changes}
	chains, err := t.ListChains(planned.Name)
	if err != nil {
		return fmt.Errorf("listing chains of %s: %w", s, err)
	}
	plannedNames := make([]string, len(planned.Chains))
	for i, c := range planned.Chains {
		plannedNames[i] = c.Name
		if !slices.Contains(chains, c.Name) {
			if err := t.NewChain(s.table, c.Name); err != nil {
				return fmt.Errorf("creating chain %s/%s: %w", s, c.Name, err)
			}
			s.changed("created chain " + c.Name)
		}
	}
	for _, c := range planned.Chains {
		if err := s.syncChain(c); err != nil {
			return err
		}
	}
	if err := s.syncJumps(planned.Jumps); err != nil {
		return err
	}
	var stale []string
	for _, name := range ownedChains {
		if slices.Contains(chains, name) && !slices.Contains(plannedNames, name) {
			stale = append(stale, name)
		}
	}
	return s.removeChains(stale)
}

// tableSync changes one table of one family and records what it changed.
type tableSync struct {
	family  Family
	table   string
	t       Tables
	log     *slog.Logger
	changes *[]string
}

// String names the table for errors and change lines, e.g. "IPv4 nat".
func (s *tableSync) String() string { return s.family.String() + " " + s.table }

func (s *tableSync) changed(what string) {
	line := s.String() + ": " + what
	s.log.Info("changed iptables", "family", s.family.String(), "table", s.table, "change", what)
	*s.changes = append(*s.changes, line)
}

// syncChain rewrites chain c when its listed rules differ from the planned ones in any way.
func (s *tableSync) syncChain(c Chain) error {
	lines, err := s.t.List(s.table, c.Name)
	if err != nil {
		return fmt.Errorf("listing %s/%s: %w", s, c.Name, err)
	}
	current, err := listedRules(c.Name, lines)
	if err != nil {
		return fmt.Errorf("reading %s/%s: %w", s, c.Name, err)
	}
	if slices.EqualFunc(current, c.Rules, slices.Equal) {
		return nil
	}
	// Init containers run before the app, so rewriting in place leaves no window anyone could use.
	if err := s.t.ClearChain(s.table, c.Name); err != nil {
		return fmt.Errorf("flushing %s/%s: %w", s, c.Name, err)
	}
	for _, r := range c.Rules {
		if err := s.t.Append(s.table, c.Name, r...); err != nil {
			return fmt.Errorf("adding rule %q to %s/%s: %w", formatRule(r), s, c.Name, err)
		}
	}
	s.changed(fmt.Sprintf("wrote %d rules to %s", len(c.Rules), c.Name))
	return nil
}

// syncJumps keeps exactly the planned jumps to own chains in OUTPUT: it deletes the others (stale or
// duplicate) and inserts the missing ones at the top.
func (s *tableSync) syncJumps(planned []Jump) error {
	lines, err := s.t.List(s.table, builtinOutput)
	if err != nil {
		return fmt.Errorf("listing %s/%s: %w", s, builtinOutput, err)
	}
	rules, err := listedRules(builtinOutput, lines)
	if err != nil {
		return fmt.Errorf("reading %s/%s: %w", s, builtinOutput, err)
	}
	present := make([]bool, len(planned))
	for position, r := range rules {
		if !slices.Contains(ownedChains, r.target()) {
			continue
		}
		k := slices.IndexFunc(planned, func(j Jump) bool { return slices.Equal(j.Rule, r) })
		if k >= 0 && !present[k] {
			present[k] = true
			if position != k {
				s.log.Warn("the jump to egress chains is not first in OUTPUT: earlier rules see traffic first",
					"family", s.family.String(), "table", s.table, "position", position+1)
			}
			continue
		}
		if err := s.t.Delete(s.table, builtinOutput, r...); err != nil {
			return fmt.Errorf("deleting rule %q from %s/%s: %w", formatRule(r), s, builtinOutput, err)
		}
		s.changed("removed jump " + formatRule(r) + " from " + builtinOutput)
	}
	for k := len(planned) - 1; k >= 0; k-- {
		if present[k] {
			continue
		}
		j := planned[k]
		if err := s.t.Insert(s.table, j.Chain, 1, j.Rule...); err != nil {
			return fmt.Errorf("inserting rule %q into %s/%s: %w", formatRule(j.Rule), s, j.Chain, err)
		}
		s.changed("inserted jump " + formatRule(j.Rule) + " into " + j.Chain)
	}
	return nil
}

// removeChains flushes all of chains first, so that references between them are gone, then deletes them.
func (s *tableSync) removeChains(chains []string) error {
	for _, name := range chains {
		if err := s.t.ClearChain(s.table, name); err != nil {
			return fmt.Errorf("flushing %s/%s: %w", s, name, err)
		}
	}
	for _, name := range chains {
		if err := s.t.DeleteChain(s.table, name); err != nil {
			return fmt.Errorf("deleting chain %s/%s: %w", s, name, err)
		}
		s.changed("removed chain " + name)
	}
	return nil
}
