package policystream

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
)

func set(ns, name string, targets ...v1alpha1.Target) RuleSet {
	return RuleSet{Name: name, Namespace: ns, Generation: 1, Spec: v1alpha1.EgressRuleSetSpec{Targets: targets}}
}

func TestSnapshotVersionIsADigestOfTheContent(t *testing.T) {
	a, b := set("shop", "a", "a.example:443"), set("egress-system", "g", "g.example:443")
	v := func(ns string, sets ...RuleSet) string {
		f, err := NewSnapshot(ns, "egress-system", sets)
		if err != nil {
			t.Fatal(err)
		}
		return f.Version
	}
	base := v("shop", a, b)
	if v("shop", b, a) != base {
		t.Error("the order the sets came in changed the version")
	}
	changed := a
	changed.Spec.Targets = []v1alpha1.Target{"a.example:443", "a2.example:443"}
	audit := a
	audit.Spec.Mode = v1alpha1.ModeAudit
	selected := a
	selected.Spec.PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}
	for name, other := range map[string]string{
		"a target added":     v("shop", changed, b),
		"the mode":           v("shop", audit, b),
		"the selector":       v("shop", selected, b),
		"a set removed":      v("shop", a),
		"another namespace":  v("bank", a, b),
		"no sets at all":     v("shop"),
		"another global":     func() string { f, _ := NewSnapshot("shop", "global", []RuleSet{a, b}); return f.Version }(),
		"another set's name": v("shop", set("shop", "z", "a.example:443"), b),
		"another generation": v("shop", RuleSet{Name: "a", Namespace: "shop", Generation: 2, Spec: a.Spec}, b),
	} {
		if other == base {
			t.Errorf("%s kept the version", name)
		}
	}
}

func TestFramesRoundTrip(t *testing.T) {
	snap, err := NewSnapshot("shop", "egress-system", nil)
	if err != nil {
		t.Fatal(err)
	}
	line, err := snap.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(line), `"ruleSets":[]`) || line[len(line)-1] != '\n' {
		t.Errorf("an empty snapshot must say so: %s", line)
	}
	got, err := Decode(line)
	if err != nil || got.Version != snap.Version || got.RuleSets == nil || len(got.RuleSets) != 0 {
		t.Errorf("decoded %+v, %v", got, err)
	}
	full, _ := NewSnapshot("shop", "egress-system", []RuleSet{set("shop", "a", "a.example:443")})
	line, _ = full.Encode()
	got, err = Decode(line)
	if err != nil || got.RuleSets[0].Object().Spec.Targets[0] != "a.example:443" || got.RuleSets[0].Object().Namespace != "shop" {
		t.Errorf("decoded %+v, %v", got, err)
	}
	for _, bad := range []string{
		`{"type":"snapshot","version":"v","namespace":"shop","globalNamespace":"g"}`, // no ruleSets: not "none"
		`{"type":"snapshot","ruleSets":[]}`,
		`{"type":"current"}`,
		`{"type":"delta"}`,
		`{"type":`,
	} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%s) accepted", bad)
		}
	}
	for _, ok := range []string{`{"type":"heartbeat"}`, `{"type":"reconnect","reason":"bye"}`, `{"type":"current","version":"v"}`} {
		if _, err := Decode([]byte(ok)); err != nil {
			t.Errorf("Decode(%s): %v", ok, err)
		}
	}
}

func TestFromObjectKeepsWhatTheSidecarNeeds(t *testing.T) {
	o := &v1alpha1.EgressRuleSet{
		ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "shop", Generation: 4, ResourceVersion: "99",
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 1000)}},
		Spec:   v1alpha1.EgressRuleSetSpec{Targets: []v1alpha1.Target{"a.example:443"}},
		Status: v1alpha1.EgressRuleSetStatus{ValidTargets: 1},
	}
	r := FromObject(o)
	if r.Name != "a" || r.Namespace != "shop" || r.Generation != 4 || len(r.Spec.Targets) != 1 {
		t.Errorf("FromObject = %+v", r)
	}
	o.Spec.Targets[0] = "changed:1"
	if r.Spec.Targets[0] != "a.example:443" {
		t.Error("FromObject shares the spec with the object")
	}
}
