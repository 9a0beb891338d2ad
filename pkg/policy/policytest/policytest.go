// Package policytest builds compiled policies for tests.
package policytest

import (
	"testing"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
)

// RuleSet returns a rule set named name in Enforce mode with targets, selecting every pod.
func RuleSet(name string, targets ...string) v1alpha1.EgressRuleSet {
	set := v1alpha1.EgressRuleSet{}
	set.Name = name
	for _, target := range targets {
		set.Spec.Targets = append(set.Spec.Targets, v1alpha1.Target(target))
	}
	return set
}

// AuditRuleSet returns RuleSet in Audit mode.
func AuditRuleSet(name string, targets ...string) v1alpha1.EgressRuleSet {
	set := RuleSet(name, targets...)
	set.Spec.Mode = v1alpha1.ModeAudit
	return set
}

// Compile compiles sets, failing the test on an invalid target.
func Compile(t testing.TB, sets ...v1alpha1.EgressRuleSet) *policy.Matcher {
	t.Helper()
	m, problems := policy.Compile(sets)
	if len(problems) > 0 {
		t.Fatalf("compile: %v", problems)
	}
	return m
}

// Targets compiles one rule set named "test" allowing targets.
func Targets(t testing.TB, targets ...string) *policy.Matcher {
	t.Helper()
	return Compile(t, RuleSet("test", targets...))
}
