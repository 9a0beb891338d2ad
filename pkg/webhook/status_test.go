package webhook

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/inject"
)

func ruleSet(targets ...v1alpha1.Target) *v1alpha1.EgressRuleSet {
	return &v1alpha1.EgressRuleSet{
		ObjectMeta: metav1.ObjectMeta{Name: "deps", Namespace: "shop", Generation: 3},
		Spec:       v1alpha1.EgressRuleSetSpec{Targets: targets},
	}
}

func TestDesiredStatus(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Hour))

	set := ruleSet("api.example.com:443", "*.example.org:443")
	st := DesiredStatus(set, t0)
	c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionAccepted)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonAccepted || st.ValidTargets != 2 || st.ObservedGeneration != 3 || c.ObservedGeneration != 3 {
		t.Fatalf("valid set: %+v", st)
	}

	// Same outcome later: the transition time stays.
	set.Status = st
	again := DesiredStatus(set, t1)
	if !meta.FindStatusCondition(again.Conditions, v1alpha1.ConditionAccepted).LastTransitionTime.Equal(&t0) {
		t.Error("LastTransitionTime moved although the status did not change")
	}

	bad := ruleSet("api.example.com:443", "bad host!:443", "-x.example.com:443")
	st = DesiredStatus(bad, t0)
	c = meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionAccepted)
	if c.Status != metav1.ConditionFalse || c.Reason != ReasonInvalidTargets || st.ValidTargets != 1 {
		t.Fatalf("invalid targets: %+v", st)
	}
	for _, want := range []string{"2 of 3 targets are invalid", `target 1 "bad host!:443"`, `target 2 "-x.example.com:443"`} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("message %q lacks %q", c.Message, want)
		}
	}

	sel := ruleSet("api.example.com:443")
	sel.Spec.PodSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}
	c = meta.FindStatusCondition(DesiredStatus(sel, t0).Conditions, v1alpha1.ConditionAccepted)
	if c.Status != metav1.ConditionFalse || c.Reason != ReasonInvalidPodSelector {
		t.Errorf("invalid selector: %+v", c)
	}
}

func TestInvalidTargetsMessageBounded(t *testing.T) {
	var targets []v1alpha1.Target
	for range 1000 {
		targets = append(targets, v1alpha1.Target("bad host "+strings.Repeat("x", 200)+":443"))
	}
	c := meta.FindStatusCondition(DesiredStatus(ruleSet(targets...), metav1.Now()).Conditions, v1alpha1.ConditionAccepted)
	if len(c.Message) > 32768 || !strings.Contains(c.Message, "more") {
		t.Errorf("message length %d, ends %q", len(c.Message), c.Message[len(c.Message)-40:])
	}
}

func TestDesiredInjectLabel(t *testing.T) {
	for _, tc := range []struct {
		annotations map[string]string
		want        string
		mirror      bool
	}{
		{nil, "", false},
		{map[string]string{inject.AnnotationInject: "enabled"}, "enabled", true},
		{map[string]string{inject.AnnotationInject: "disabled"}, "disabled", true},
		{map[string]string{inject.AnnotationInject: "yes please"}, "", false},
	} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "n", Annotations: tc.annotations}}
		if got, mirror := DesiredInjectLabel(ns); got != tc.want || mirror != tc.mirror {
			t.Errorf("DesiredInjectLabel(%v) = %q, %v", tc.annotations, got, mirror)
		}
	}
}
