package redirect

import (
	"slices"
	"testing"
)

func TestSplitRuleReadsIptablesOutput(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{`-A OUTPUT -o lo -j RETURN`, []string{"-A", "OUTPUT", "-o", "lo", "-j", "RETURN"}},
		{`-A X -m comment --comment "egress: a b" -j RETURN`, []string{"-A", "X", "-m", "comment", "--comment", "egress: a b", "-j", "RETURN"}},
		{`-A X -m comment --comment c -j RETURN`, []string{"-A", "X", "-m", "comment", "--comment", "c", "-j", "RETURN"}},
		// iptables-save escapes quotes inside the quoted comment.
		{`-A X -m comment --comment "the pod\'s \"own\"" -j RETURN`, []string{"-A", "X", "-m", "comment", "--comment", `the pod's "own"`, "-j", "RETURN"}},
		{`-A X  -p tcp`, []string{"-A", "X", "-p", "tcp"}},
		{`-A X -m comment --comment ""`, []string{"-A", "X", "-m", "comment", "--comment", ""}},
	}
	for _, tt := range tests {
		got, err := splitRule(tt.line)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitRule(%q) = %q, %v, want %q", tt.line, got, err, tt.want)
		}
	}
	if _, err := splitRule(`-A X --comment "open`); err == nil {
		t.Error("splitRule accepted an unterminated quote")
	}
}

func TestFormatRuleRoundTrips(t *testing.T) {
	rules := []Rule{
		{"-o", "lo", "-m", "comment", "--comment", "egress: loopback", "-j", "RETURN"},
		{"-m", "comment", "--comment", `odd "quote" and \ backslash`, "-j", "RETURN"},
		{"-m", "comment", "--comment", "plain", "-j", "RETURN"},
	}
	for _, r := range rules {
		text := formatRule(r)
		got, err := splitRule(text)
		if err != nil || !slices.Equal(got, []string(r)) {
			t.Errorf("splitRule(formatRule(%q)) = %q (%v), via %s", r, got, err, text)
		}
	}
	if got := formatRule(rules[2]); got != `-m comment --comment "plain" -j RETURN` {
		t.Errorf("comments are always quoted, as iptables-save quotes ours: %s", got)
	}
}

func TestListedRules(t *testing.T) {
	lines := []string{"-N EGRESS_OUTPUT", `-A EGRESS_OUTPUT -o lo -m comment --comment "egress: x" -j RETURN`, "-A OTHER -j RETURN"}
	got, err := listedRules("EGRESS_OUTPUT", lines)
	if err != nil || len(got) != 1 || !slices.Equal(got[0], Rule{"-o", "lo", "-m", "comment", "--comment", "egress: x", "-j", "RETURN"}) {
		t.Errorf("listedRules = %q, %v", got, err)
	}
}
