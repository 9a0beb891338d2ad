// Package filesource is the sidecar's standalone policy source: a rules file of EgressRuleSet documents,
// reloaded whenever it changes. It is the file-reading edge next to pkg/kubesource; parsing the file is
// policy.LoadRuleSets (pure).
package filesource
