package redirect

import (
	"errors"
	"fmt"
	"strings"
)

// formatRule renders rule arguments as iptables-save does: the --comment text in double quotes, any
// other argument quoted only when it holds a space, a quote or a backslash.
func formatRule(rule Rule) string {
	parts := make([]string, len(rule))
	for i, arg := range rule {
		isComment := i > 0 && rule[i-1] == "--comment"
		if isComment || arg == "" || strings.ContainsAny(arg, " \t\"\\") {
			arg = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(arg) + `"`
		}
		parts[i] = arg
	}
	return strings.Join(parts, " ")
}

// splitRule splits one line of `iptables -S` output into arguments, undoing its double quotes and
// backslash escapes, so that it can be compared with a planned Rule or passed back to iptables.
func splitRule(line string) ([]string, error) {
	var (
		args    []string
		current strings.Builder
		inArg   bool
		quoted  bool
	)
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\\' && i+1 < len(line):
			i++
			current.WriteByte(line[i])
			inArg = true
		case ch == '"':
			quoted = !quoted
			inArg = true
		case (ch == ' ' || ch == '\t') && !quoted:
			if inArg {
				args = append(args, current.String())
				current.Reset()
				inArg = false
			}
		default:
			current.WriteByte(ch)
			inArg = true
		}
	}
	if quoted {
		return nil, errors.New("unterminated quote")
	}
	if inArg {
		args = append(args, current.String())
	}
	return args, nil
}

// listedRules extracts the rules of chain from `iptables -S chain` output, skipping -P and -N lines.
func listedRules(chain string, lines []string) ([]Rule, error) {
	var rules []Rule
	for _, line := range lines {
		args, err := splitRule(line)
		if err != nil {
			return nil, fmt.Errorf("parsing listed rule %q: %w", line, err)
		}
		if len(args) < 2 || args[0] != "-A" || args[1] != chain {
			continue
		}
		rules = append(rules, Rule(args[2:]))
	}
	return rules, nil
}

// target returns the argument of the rule's -j, or "" when it has none.
func (r Rule) target() string {
	for i := 0; i+1 < len(r); i++ {
		if r[i] == "-j" {
			return r[i+1]
		}
	}
	return ""
}
