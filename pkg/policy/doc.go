// Package policy decides whether a pod may reach a destination. It parses EgressRuleSet targets, selects the
// rule sets that apply to a pod, compiles them into an immutable Matcher and answers Decide(name, ip, port)
// without allocating. It also loads rule sets from YAML files (the standalone policy source).
//
// Everything here but the file source is pure: no I/O, no clocks, no globals.
package policy
