package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"egress.io/egress/api/v1alpha1"
)

// maxRulesFileSize bounds what LoadRuleSets reads, so a runaway file cannot exhaust the sidecar's memory.
const maxRulesFileSize = 16 << 20

// LoadRuleSets parses a YAML stream of EgressRuleSet documents, the same objects `kubectl apply` takes. It is
// strict: an unknown field, a wrong apiVersion or kind, a missing name, a bad mode or selector, or any invalid
// target fails the whole load with an error naming file, document (1-based) and target, so that a bad edit
// never silently narrows or widens what the previous file allowed. Empty documents are ignored.
func LoadRuleSets(r io.Reader, file string) ([]v1alpha1.EgressRuleSet, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxRulesFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading: %w", file, err)
	}
	if len(data) > maxRulesFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", file, maxRulesFileSize)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var sets []v1alpha1.EgressRuleSet
	seen := map[string]int{}
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return sets, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, doc, err)
		}
		if isBlankDocument(raw) {
			continue
		}
		set, err := decodeRuleSet(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, doc, err)
		}
		key := ruleSetName(&set)
		if first, dup := seen[key]; dup {
			return nil, fmt.Errorf("%s: document %d: EgressRuleSet %q already defined in document %d", file, doc, key, first)
		}
		seen[key] = doc
		sets = append(sets, set)
	}
}

func decodeRuleSet(raw []byte) (v1alpha1.EgressRuleSet, error) {
	var set v1alpha1.EgressRuleSet
	if err := yaml.UnmarshalStrict(raw, &set); err != nil {
		return set, err
	}
	if gv := v1alpha1.GroupVersion.String(); set.APIVersion != gv || set.Kind != "EgressRuleSet" {
		return set, fmt.Errorf("apiVersion %q kind %q: want apiVersion %s, kind EgressRuleSet", set.APIVersion, set.Kind, gv)
	}
	if set.Name == "" {
		return set, errors.New("metadata.name is required")
	}
	if set.Spec.Mode == "" {
		set.Spec.Mode = v1alpha1.ModeEnforce
	}
	if set.Spec.Mode != v1alpha1.ModeEnforce && set.Spec.Mode != v1alpha1.ModeAudit {
		return set, fmt.Errorf("%s: spec.mode %q: want Enforce or Audit", set.Name, set.Spec.Mode)
	}
	if len(set.Spec.Targets) == 0 {
		return set, fmt.Errorf("%s: spec.targets is empty", set.Name)
	}
	if len(set.Spec.Targets) > v1alpha1.MaxTargets {
		return set, fmt.Errorf("%s: spec.targets has %d entries, more than %d", set.Name, len(set.Spec.Targets), v1alpha1.MaxTargets)
	}
	if _, err := selectorMatches(set.Spec.PodSelector, nil); err != nil {
		return set, fmt.Errorf("%s: spec.podSelector: %w", set.Name, err)
	}
	for i, raw := range set.Spec.Targets {
		if _, err := ParseTarget(string(raw)); err != nil {
			return set, Problem{RuleSet: ruleSetName(&set), Index: i, Target: string(raw), Err: err}
		}
	}
	return set, nil
}

func isBlankDocument(raw []byte) bool {
	for _, line := range bytes.Split(raw, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && !bytes.Equal(line, []byte("---")) {
			return false
		}
	}
	return true
}
