package apiserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/pkg/inject"
)

// globalNamespace is the webhook's --global-namespace in these tests (the default).
const globalNamespace = "egress-system"

// canListRuleSets asks the API server, with the real kubectl, whether the default service account of saNS
// may list EgressRuleSets in ns ("" for all namespaces).
func canListRuleSets(t *testing.T, saNS, ns string) bool {
	t.Helper()
	scope := []string{"-A"}
	if ns != "" {
		scope = []string{"-n", ns}
	}
	args := append([]string{"auth", "can-i", "list", "egressrulesets.egress.io", "--as=system:serviceaccount:" + saNS + ":default"}, scope...)
	out, err := kubectlErr(t, cp, "", args...)
	switch strings.TrimSpace(strings.SplitN(out, "\n", 2)[0]) {
	case "yes":
		return true
	case "no":
		return false
	}
	t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
	return false
}

// access is what a service account's namespace may read: namespaces (or "" for all) to yes or no.
type access map[string]bool

// waitAccess polls until every service account's access is as wanted, naming each difference.
func waitAccess(t *testing.T, what string, want map[string]access) {
	t.Helper()
	eventually(t, 15*time.Second, what, func() (bool, string) {
		var wrong []string
		for saNS, nss := range want {
			for ns, yes := range nss {
				if got := canListRuleSets(t, saNS, ns); got != yes {
					where := ns
					if where == "" {
						where = "all namespaces"
					}
					wrong = append(wrong, fmt.Sprintf("%s's service accounts list in %s: %v, want %v", saNS, where, got, yes))
				}
			}
		}
		return len(wrong) == 0, strings.Join(wrong, "; ")
	})
}

// TestRuleSetAccess checks least privilege for rule sets with the direct watch (--policy-source=kube): the
// webhook's controller lets the service accounts of a namespace it injects read that namespace's and the
// global namespace's EgressRuleSets and nothing else, takes that away when the namespace opts out, and
// restores what is changed by hand.
func TestRuleSetAccess(t *testing.T) {
	setupShared(t)
	cfg := webhookConfig(t)
	cfg.Inject.PolicySource = inject.PolicyFromKube
	startWebhook(t, cfg)
	ctx := context.Background()
	enabled := map[string]string{inject.AnnotationInject: inject.ValueEnabled}
	for _, ns := range []struct {
		name                string
		labels, annotations map[string]string
	}{
		{name: "access-on", annotations: enabled},
		// Enabled by the operator's label alone: the webhook injects it, so its pods must read too.
		{name: "access-label", labels: map[string]string{inject.LabelInject: inject.ValueEnabled}},
		{name: "access-off", annotations: map[string]string{inject.AnnotationInject: inject.ValueDisabled}},
		{name: "access-other"},
	} {
		if err := cp.EnsureNamespace(ctx, ns.name, ns.labels, ns.annotations); err != nil {
			t.Fatal(err)
		}
		if err := cp.EnsureServiceAccount(ctx, ns.name, "default"); err != nil {
			t.Fatal(err)
		}
	}
	all := []string{"access-on", "access-label", "access-off", "access-other", globalNamespace, ""}
	only := func(yes ...string) access {
		a := access{}
		for _, ns := range all {
			a[ns] = false
		}
		for _, ns := range yes {
			a[ns] = true
		}
		return a
	}

	waitAccess(t, "service accounts read their own and the global namespace's rule sets only", map[string]access{
		"access-on":    only("access-on", globalNamespace),
		"access-label": only("access-label", globalNamespace),
		"access-off":   only(),
		"access-other": only(),
	})

	// The webhook may write RoleBindings of its two names only, and bind no role with more than it holds
	// (cluster-admin: admin's rules are aggregated by a controller that does not run here).
	for _, tc := range []struct{ name, role, want string }{
		{"egress-ruleset-reader", "cluster-admin", "attempting to grant RBAC permissions not currently held"},
		{"something-else", "egress-ruleset-reader", "forbidden"},
	} {
		manifest := fmt.Sprintf(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding",
"metadata":{"name":%q,"namespace":"access-other"},
"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":%q},
"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"system:serviceaccounts:access-other"}]}`, tc.name, tc.role)
		out, err := kubectlErr(t, cp, manifest, "apply", "--server-side", "--dry-run=server", "-f", "-",
			"--as=system:serviceaccount:egress-system:egress-webhook")
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("the webhook's service account applying RoleBinding %s to %s: %v: %s; want %q", tc.name, tc.role, err, out, tc.want)
		}
	}

	// A managed binding deleted by hand comes back; one edited by hand is put back.
	kubectl(t, cp, "", "delete", "rolebinding", "-n", "access-label", "egress-ruleset-reader")
	kubectl(t, cp, "", "patch", "rolebinding", "-n", globalNamespace, "egress-ruleset-reader-global", "--type=json",
		`-p=[{"op":"replace","path":"/subjects","value":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"system:serviceaccounts:access-other"}]}]`)
	waitAccess(t, "bindings restored after deletion and edit", map[string]access{
		"access-label": only("access-label", globalNamespace),
		"access-on":    only("access-on", globalNamespace),
		"access-other": only(),
	})
	eventually(t, 10*time.Second, "the restored binding", func() (bool, string) {
		rb, err := cp.Clientset().RbacV1().RoleBindings("access-label").Get(ctx, "egress-ruleset-reader", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(rb.Subjects) == 1 && rb.Subjects[0].Name == "system:serviceaccounts:access-label", fmt.Sprint(rb.Subjects)
	})

	// Opting out takes access away: annotation set to disabled, label removed, namespace deleted.
	kubectl(t, cp, "", "annotate", "namespace", "access-on", "--overwrite", inject.AnnotationInject+"="+inject.ValueDisabled)
	waitAccess(t, "access-on opted out", map[string]access{
		"access-on":    only(),
		"access-label": only("access-label", globalNamespace),
	})
	kubectl(t, cp, "", "annotate", "namespace", "access-on", "--overwrite", inject.AnnotationInject+"="+inject.ValueEnabled)
	waitAccess(t, "access-on enabled again", map[string]access{"access-on": only("access-on", globalNamespace)})
	kubectl(t, cp, "", "annotate", "namespace", "access-on", inject.AnnotationInject+"-")
	waitAccess(t, "access-on's annotation removed", map[string]access{"access-on": only()})
	kubectl(t, cp, "", "label", "namespace", "access-label", inject.LabelInject+"-")
	waitAccess(t, "access-label's label removed", map[string]access{"access-label": only()})
	kubectl(t, cp, "", "label", "namespace", "access-label", inject.LabelInject+"="+inject.ValueEnabled)
	waitAccess(t, "access-label labelled again", map[string]access{"access-label": only("access-label", globalNamespace)})
	// No namespace controller runs here, so the namespace stays Terminating: access must go at once.
	kubectl(t, cp, "", "delete", "namespace", "access-label", "--wait=false")
	waitAccess(t, "access-label deleted", map[string]access{"access-label": only()})
}

// TestNoRuleSetAccessUnderThePolicyService: with the policy service (the default) an enabled namespace's
// service accounts may read no rule sets; only a namespace that chooses the direct watch by annotation
// gets the bindings, and loses them when it moves back to the service.
func TestNoRuleSetAccessUnderThePolicyService(t *testing.T) {
	setupShared(t)
	startWebhook(t, webhookConfig(t))
	ctx := context.Background()
	enabled := map[string]string{inject.AnnotationInject: inject.ValueEnabled}
	direct := map[string]string{inject.AnnotationInject: inject.ValueEnabled, inject.AnnotationPolicySource: string(inject.PolicyFromKube)}
	for name, annotations := range map[string]map[string]string{"svc-on": enabled, "svc-direct": direct} {
		if err := cp.EnsureNamespace(ctx, name, nil, annotations); err != nil {
			t.Fatal(err)
		}
		if err := cp.EnsureServiceAccount(ctx, name, "default"); err != nil {
			t.Fatal(err)
		}
	}
	none := access{"svc-on": false, "svc-direct": false, globalNamespace: false, "": false}
	own := func(ns string) access {
		return access{"svc-on": ns == "svc-on", "svc-direct": ns == "svc-direct", globalNamespace: true, "": false}
	}
	waitAccess(t, "only the namespace with the direct watch reads rule sets", map[string]access{
		"svc-on":     none,
		"svc-direct": own("svc-direct"),
	})
	kubectl(t, cp, "", "annotate", "namespace", "svc-direct", "--overwrite", inject.AnnotationPolicySource+"=service")
	kubectl(t, cp, "", "annotate", "namespace", "svc-on", inject.AnnotationPolicySource+"=kube")
	waitAccess(t, "access follows the namespaces' policy sources", map[string]access{
		"svc-on":     own("svc-on"),
		"svc-direct": none,
	})
	kubectl(t, cp, "", "annotate", "namespace", "svc-on", inject.AnnotationPolicySource+"-")
	waitAccess(t, "back to the policy service", map[string]access{"svc-on": none, "svc-direct": none})
	if _, err := cp.Clientset().RbacV1().RoleBindings("svc-on").Get(ctx, "egress-ruleset-reader", metav1.GetOptions{}); err == nil {
		t.Error("a RoleBinding is left in a namespace that uses the policy service")
	}
}
