package policy

import (
	"os"
	"strings"
	"testing"

	"egress.io/egress/api/v1alpha1"
)

func TestLoadRuleSetsOfTheExampleFile(t *testing.T) {
	data, err := os.ReadFile("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sets, err := LoadRuleSets(strings.NewReader(string(data)), "testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 2 {
		t.Fatalf("loaded %d rule sets, want 2", len(sets))
	}
	if sets[0].Name != "payments-deps" || sets[0].Spec.Mode != v1alpha1.ModeEnforce || len(sets[0].Spec.Targets) != 3 {
		t.Fatalf("first rule set = %+v", sets[0])
	}
	if sets[1].Namespace != "" || sets[1].Spec.Mode != v1alpha1.ModeAudit {
		t.Fatalf("second rule set = %+v", sets[1])
	}
}

func TestLoadRuleSetsErrorsNameFileDocumentAndTarget(t *testing.T) {
	const header = "apiVersion: egress.io/v1alpha1\nkind: EgressRuleSet\n"
	good := header + "metadata: {name: good}\nspec: {targets: [\"a.example:443\"]}\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"bad target", good + "---\n" + header + "metadata: {name: bad}\nspec:\n  targets: [\"a.example:443\", \"b.example:443\", \"c.example:443\", \"*.:443\"]\n",
			`rules.yaml: document 2: bad: target 3 "*.:443": empty suffix`},
		{"unknown field", header + "metadata: {name: x}\nspec: {targets: [\"a.example:443\"], tragets: []}\n", `rules.yaml: document 1: error unmarshaling JSON: while decoding JSON: json: unknown field "tragets"`},
		{"wrong kind", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", `rules.yaml: document 1: apiVersion "v1" kind "ConfigMap": want apiVersion egress.io/v1alpha1, kind EgressRuleSet`},
		{"no name", header + "spec: {targets: [\"a.example:443\"]}\n", "rules.yaml: document 1: metadata.name is required"},
		{"bad mode", header + "metadata: {name: x}\nspec: {mode: Permissive, targets: [\"a.example:443\"]}\n", `rules.yaml: document 1: x: spec.mode "Permissive": want Enforce or Audit`},
		{"no targets", header + "metadata: {name: x}\nspec: {targets: []}\n", "rules.yaml: document 1: x: spec.targets is empty"},
		{"bad selector", header + "metadata: {name: x}\nspec: {podSelector: {matchExpressions: [{key: app, operator: Near}]}, targets: [\"a.example:443\"]}\n", "rules.yaml: document 1: x: spec.podSelector"},
		{"duplicate", good + "---\n" + good, `rules.yaml: document 2: EgressRuleSet "good" already defined in document 1`},
		{"not yaml", "{{{", "rules.yaml: document 1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadRuleSets(strings.NewReader(tt.yaml), "rules.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadRuleSetsEmptyStreamIsNoRuleSets(t *testing.T) {
	sets, err := LoadRuleSets(strings.NewReader("# nothing allowed yet\n---\n"), "rules.yaml")
	if err != nil || len(sets) != 0 {
		t.Fatalf("sets = %v, err = %v", sets, err)
	}
}
