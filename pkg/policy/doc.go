// Package policy decides whether a pod may reach a destination. It parses EgressRuleSet targets, selects the
// rule sets that apply to a pod, compiles them into an immutable Matcher and answers Decide(name, ip, port)
// without allocating. It parses rule sets from YAML documents (LoadRuleSets) and defines what a policy
// source delivers (Source, Sink); the sources themselves are pkg/filesource and pkg/kubesource.
//
// Everything here is pure: no I/O, no clocks, no globals.
package policy
