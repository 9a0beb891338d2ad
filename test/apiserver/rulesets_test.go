package apiserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"egress.io/egress/api/v1alpha1"
)

// TestManifestsApply checks that kubectl apply -k manifests/ works, twice, and that the images are set in
// one place.
func TestManifestsApply(t *testing.T) {
	setupShared(t)
	out := shared.applied
	for _, want := range []string{
		"customresourcedefinition.apiextensions.k8s.io/egressrulesets.egress.io",
		"mutatingwebhookconfiguration.admissionregistration.k8s.io/egress-webhook",
		"deployment.apps/egress-webhook", "poddisruptionbudget.policy/egress-webhook",
		"clusterrole.rbac.authorization.k8s.io/egress-ruleset-reader",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("second kubectl apply -k output lacks %q:\n%s", want, out)
		}
	}
	img := kubectl(t, cp, "", "get", "deployment", "-n", "egress-system", "egress-webhook", "-o",
		`jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].value} {.spec.template.spec.containers[0].env[1].value}`)
	for _, want := range []string{"/egress-webhook:", "/egress-init:", "/egress-sidecar:"} {
		if !strings.Contains(img, want) {
			t.Errorf("images %q lack %q: the kustomization's images: did not apply", img, want)
		}
	}
}

// TestWebhookPodSpecAdmitted creates, as a server-side dry run, a pod from the webhook Deployment's template
// in egress-system: the API server checks it against the namespace's Pod Security "restricted" level and
// everything else a real pod must pass.
func TestWebhookPodSpecAdmitted(t *testing.T) {
	setupShared(t)
	ctx := context.Background()
	dep, err := cp.Clientset().AppsV1().Deployments("egress-system").Get(ctx, "egress-webhook", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 2 {
		t.Errorf("replicas = %d; want 2", *dep.Spec.Replicas)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "webhook-template", Namespace: "egress-system", Labels: dep.Spec.Template.Labels},
		Spec:       dep.Spec.Template.Spec,
	}
	_, err = cp.Clientset().CoreV1().Pods("egress-system").Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Errorf("a pod from the webhook Deployment's template is not admitted in egress-system: %v", err)
	}
	// The control: without its security context the same pod violates the namespace's level.
	pod.Spec.SecurityContext, pod.Spec.Containers[0].SecurityContext = nil, nil
	_, err = cp.Clientset().CoreV1().Pods("egress-system").Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil || !strings.Contains(err.Error(), `violates PodSecurity "restricted`) {
		t.Errorf("control pod without securityContext: %v; want a PodSecurity violation", err)
	}
}

func ruleSetYAML(name, namespace, spec string) string {
	return fmt.Sprintf("apiVersion: egress.io/v1alpha1\nkind: EgressRuleSet\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n%s", name, namespace, spec)
}

// route returns a spec with one target and one route with the fields given.
func route(fields string) string {
	return "  targets: ['api.example.com:443']\n  routes: [{name: r, " + fields + "}]"
}

// TestInvalidRuleSetsRejected applies invalid EgressRuleSets with kubectl and checks that the API server
// (the CRD's OpenAPI and CEL validation) rejects each with a message that says what is wrong.
func TestInvalidRuleSetsRejected(t *testing.T) {
	setupShared(t)
	if err := cp.EnsureNamespace(context.Background(), "crd-test", nil, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, spec string
		want       []string
	}{
		{"port wildcard", "  targets: ['*.a.com:*']", []string{"spec.targets[0]", "a target needs a port", "a port wildcard is not accepted"}},
		{"bad CIDR", "  targets: ['203.0.113.0/33:443']", []string{"spec.targets[0]", "a CIDR target must be a valid IPv4 or IPv6 prefix"}},
		{"bad IPv6 CIDR", "  targets: ['[2001:db8::/129]:443']", []string{"spec.targets[0]", "a CIDR target must be a valid IPv4 or IPv6 prefix"}},
		{"empty target", "  targets: ['']", []string{"spec.targets[0]", "at least 3 chars long"}},
		{"missing port", "  targets: ['api.example.com']", []string{"spec.targets[0]", "a target needs a port"}},
		{"port out of range", "  targets: ['api.example.com:70000']", []string{"spec.targets[0]", "a port must be from 1 to 65535"}},
		{"port zero", "  targets: ['api.example.com:0']", []string{"spec.targets[0]", "a port must be from 1 to 65535"}},
		{"range end out of range", "  targets: ['api.example.com:8000-65536']", []string{"a port must be from 1 to 65535"}},
		{"backwards range", "  targets: ['api.example.com:8100-8000']", []string{"a port range must not run backwards"}},
		{"wildcard inside", "  targets: ['api.*.example.com:443']", []string{"a wildcard is allowed only as one leading '*.'"}},
		{"bare wildcard suffix", "  targets: ['*.:443']", []string{"a wildcard is allowed only as one leading '*.'"}},
		{"unbracketed IPv6", "  targets: ['[2001:db8::1:443']", []string{"an IPv6 address or prefix must be written in brackets"}},
		{"bad mode", "  mode: Block\n  targets: ['api.example.com:443']", []string{"spec.mode", `Unsupported value: "Block"`, `"Enforce", "Audit"`}},
		{"no targets", "  targets: []", []string{"spec.targets", "should have at least 1 items"}},
		{"missing targets", "  mode: Audit", []string{"spec.targets", "Required value"}},
		{"duplicate target", "  targets: ['api.example.com:443', 'api.example.com:443']", []string{"spec.targets[1]", "Duplicate value"}},
		// Routes.
		{"route host is a CIDR", route("hosts: ['10.0.0.0/8:443']"), []string{"spec.routes[0].hosts[0]", "a route host is a name or a '*.suffix' wildcard"}},
		{"route host is any host", route("hosts: ['*:443']"), []string{"spec.routes[0].hosts[0]", "a route host is a name or a '*.suffix' wildcard"}},
		{"route host without a port", route("hosts: ['api.example.com']"), []string{"spec.routes[0].hosts[0]", "a route host needs a port"}},
		{"route without hosts", route("hosts: []"), []string{"spec.routes[0].hosts", "should have at least 1 items"}},
		{"route name", "  targets: ['api.example.com:443']\n  routes: [{name: Read_All, hosts: ['api.example.com:443']}]", []string{"spec.routes[0].name", "should match"}},
		{"duplicate route names", "  targets: ['api.example.com:443']\n  routes: [{name: read, hosts: ['api.example.com:443']}, {name: read, hosts: ['api.example.com:443']}]", []string{"spec.routes[1]", "Duplicate value"}},
		{"route method", route("hosts: ['api.example.com:443'], matches: [{method: FETCH}]"), []string{"spec.routes[0].matches[0].method", `Unsupported value: "FETCH"`}},
		{"relative path", route("hosts: ['api.example.com:443'], matches: [{path: {type: Exact, value: repos}}]"), []string{"spec.routes[0].matches[0].path", "an Exact or PathPrefix path must start with '/'"}},
		{"path type", route("hosts: ['api.example.com:443'], matches: [{path: {type: Glob, value: /x}}]"), []string{"spec.routes[0].matches[0].path.type", `Unsupported value: "Glob"`}},
		{"header name", route("hosts: ['api.example.com:443'], matches: [{headers: [{name: 'bad header', value: x}]}]"), []string{"spec.routes[0].matches[0].headers[0].name", "should match"}},
		{"too many retries", route("hosts: ['api.example.com:443'], retries: {attempts: 9}"), []string{"spec.routes[0].retries.attempts", "less than or equal to 5"}},
		{"timeout too long", route("hosts: ['api.example.com:443'], timeout: 2h"), []string{"spec.routes[0].timeout", "a timeout must be from 1ms to 1h"}},
		{"backend port", "  targets: ['api.example.com:443']\n  deniedBackend: {service: {name: sorry, port: 0}}", []string{"spec.deniedBackend.service.port", "greater than or equal to 1"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := ruleSetYAML(fmt.Sprintf("invalid-%d", i), "crd-test", tc.spec+"\n")
			out, err := kubectlErr(t, cp, doc, "apply", "-f", "-")
			if err == nil {
				t.Fatalf("kubectl apply accepted:\n%s\noutput: %s", doc, out)
			}
			t.Logf("API server said: %s", out)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("message lacks %q", w)
				}
			}
		})
	}
}

// TestRuleSetStatus runs the controllers in-process and checks the status they write through the status
// subresource: Accepted=True for a valid rule set, False with each invalid target or the selector's error.
func TestRuleSetStatus(t *testing.T) {
	setupShared(t)
	startWebhook(t, webhookConfig(t))
	ctx := context.Background()
	if err := cp.EnsureNamespace(ctx, "status-test", nil, nil); err != nil {
		t.Fatal(err)
	}
	kubectl(t, cp, strings.Join([]string{
		ruleSetYAML("valid", "status-test", "  podSelector: {matchLabels: {app: checkout}}\n  targets: ['api.stripe.com:443', '*.s3.amazonaws.com:443', '203.0.113.0/24:5432', '[2001:db8::/32]:443', '*:80', '*.example.org:8000-8100', 'db.example.com:65535']\n  routes: [{name: read, hosts: ['api.stripe.com:443'], matches: [{method: GET}]}]\n"),
		ruleSetYAML("badroute", "status-test", "  targets: ['api.example.com:443']\n  routes: [{name: ok, hosts: ['api.example.com:443']}, {name: re, hosts: ['api.example.com:443'], matches: [{path: {type: RegularExpression, value: '/(a'}}]}]\n"),
		ruleSetYAML("half", "status-test", "  targets: ['api.example.com:443', 'bad host!:443', '-leading.example.com:443']\n"),
		ruleSetYAML("selector", "status-test", "  podSelector: {matchExpressions: [{key: app, operator: Bogus}]}\n  targets: ['api.example.com:443']\n"),
	}, "---\n"), "apply", "-f", "-")

	c, err := client.New(cp.Config, client.Options{Scheme: testScheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	waitAccepted := func(name string) (*v1alpha1.EgressRuleSet, *metav1.Condition) {
		var set v1alpha1.EgressRuleSet
		var cond *metav1.Condition
		eventually(t, 10*time.Second, "status of "+name, func() (bool, string) {
			if err := c.Get(ctx, client.ObjectKey{Namespace: "status-test", Name: name}, &set); err != nil {
				return false, err.Error()
			}
			cond = meta.FindStatusCondition(set.Status.Conditions, v1alpha1.ConditionAccepted)
			return cond != nil && set.Status.ObservedGeneration == set.Generation, fmt.Sprintf("%+v", set.Status)
		})
		return &set, cond
	}

	set, cond := waitAccepted("valid")
	if cond.Status != metav1.ConditionTrue || cond.Reason != "Accepted" || set.Status.ValidTargets != 7 || set.Status.ValidRoutes != 1 {
		t.Errorf("valid: condition %+v, validTargets %d, validRoutes %d; want True/Accepted, 7, 1", cond, set.Status.ValidTargets, set.Status.ValidRoutes)
	}
	out := kubectl(t, cp, "", "get", "ers", "-n", "status-test", "valid", "--no-headers")
	if f := strings.Fields(out); len(f) < 5 || f[1] != "Enforce" || f[2] != "7" || f[3] != "1" || f[4] != "True" {
		t.Errorf("kubectl get ers printer columns (name, mode, targets, routes, accepted): %q", out)
	}

	set, cond = waitAccepted("badroute")
	if cond.Status != metav1.ConditionFalse || cond.Reason != "InvalidRoutes" || set.Status.ValidRoutes != 1 ||
		!strings.Contains(cond.Message, `route 1 "re"`) {
		t.Errorf("badroute: condition %+v, validRoutes %d; want False/InvalidRoutes naming route 1, 1 valid", cond, set.Status.ValidRoutes)
	}

	set, cond = waitAccepted("half")
	if cond.Status != metav1.ConditionFalse || cond.Reason != "InvalidTargets" || set.Status.ValidTargets != 1 {
		t.Errorf("half: condition %+v, validTargets %d; want False/InvalidTargets, 1", cond, set.Status.ValidTargets)
	}
	for _, want := range []string{`target 1 "bad host!:443"`, `target 2 "-leading.example.com:443"`} {
		if !strings.Contains(cond.Message, want) {
			t.Errorf("half: message %q lacks %q", cond.Message, want)
		}
	}
	_, cond = waitAccepted("selector")
	if cond.Status != metav1.ConditionFalse || cond.Reason != "InvalidPodSelector" || !strings.Contains(cond.Message, "Bogus") {
		t.Errorf("selector: condition %+v", cond)
	}

	// Fixing the spec bumps the generation; the controller follows.
	kubectl(t, cp, ruleSetYAML("half", "status-test", "  targets: ['api.example.com:443']\n"), "apply", "-f", "-")
	eventually(t, 10*time.Second, "half fixed", func() (bool, string) {
		var s v1alpha1.EgressRuleSet
		if err := c.Get(ctx, client.ObjectKey{Namespace: "status-test", Name: "half"}, &s); err != nil {
			return false, err.Error()
		}
		cond := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionAccepted)
		return cond != nil && cond.Status == metav1.ConditionTrue && s.Status.ObservedGeneration == s.Generation && s.Status.ValidTargets == 1,
			fmt.Sprintf("%+v", s.Status)
	})
}
