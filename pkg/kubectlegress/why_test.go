package kubectlegress

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"egress.io/egress/api/v1alpha1"
)

func whyCluster(extra ...v1alpha1.EgressRuleSet) *fakeCluster {
	checkout := map[string]string{"app": "checkout"}
	return &fakeCluster{
		pods: []corev1.Pod{injectedPod("shop", "checkout-1", checkout, true, "--public-cidrs=198.18.0.0/15")},
		sets: append([]v1alpha1.EgressRuleSet{
			ruleSet("shop", "payments", checkout, "", "api.example.test:443", "*:8443"),
			ruleSet("shop", "db", checkout, "", "203.0.113.0/24:5432", "bad target"),
			ruleSet("shop", "web-deps", map[string]string{"app": "web"}, "", "other.example.test:443"),
			ruleSet("egress-system", "global", nil, "", "*.global.test:443"),
			ruleSet("elsewhere", "not-mine", nil, "", "api.example.test:80"),
		}, extra...),
	}
}

func why(t *testing.T, f *fakeCluster, dest string) Explanation {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"why", "-n", "shop", "pod/checkout-1", dest, "-o", "json"}, env(nil), &out, &errOut, fakeDial(f)); err != nil {
		t.Fatalf("why %s: %v", dest, err)
	}
	var e Explanation
	if err := json.Unmarshal(out.Bytes(), &e); err != nil {
		t.Fatalf("why %s: %v\n%s", dest, err, out.String())
	}
	return e
}

func TestWhy(t *testing.T) {
	tests := []struct {
		name, dest                                    string
		decision, reason, ruleSet, target, suggestion string
		class                                         string // a substring of the address class
		notSelected                                   string
	}{
		{"an exact target", "api.example.test:443", "allow", "exact", "shop/payments", "api.example.test:443", "", "", ""},
		{"the name normalised as the sidecar does", "API.Example.Test.:443", "allow", "exact", "shop/payments", "api.example.test:443", "", "", ""},
		{"another port: denied, and what would allow it", "api.example.test:80", "deny", "no_match", "", "", "api.example.test:80", "", ""},
		{"the global namespace's wildcard", "x.global.test:443", "allow", "wildcard", "egress-system/global", "*.global.test:443", "", "", ""},
		{"a rule set that does not select the pod is named", "other.example.test:443", "deny", "no_match", "", "", "other.example.test:443", "", "shop/web-deps"},
		{"an address in a CIDR target", "203.0.113.9:5432", "allow", "cidr", "shop/db", "203.0.113.0/24:5432", "", "", ""},
		{"an address nothing allows", "198.51.100.1:5432", "deny", "no_match", "", "", "198.51.100.1:5432", "", ""},
		{"the address guard: *:port is not enough for a private address", "10.1.2.3:8443", "deny", "private_address", "", "", "10.1.2.3:8443", "10.0.0.0/8", ""},
		{"the address guard: --deny-cidrs from the pod's sidecar arguments", "10.96.0.1:8443", "deny", "private_address", "", "", "10.96.0.1:8443", "--deny-cidrs", ""},
		{"the address guard: --public-cidrs from the pod's sidecar arguments", "198.18.0.2:8443", "allow", "any_host", "shop/payments", "*:8443", "", "", ""},
		{"IPv6 documentation range: refused", "[2001:db8::1]:8443", "deny", "private_address", "", "", "[2001:db8::1]:8443", "RFC 3849", ""},
		{"loopback is a loop", "127.0.0.1:8443", "deny", "loop", "", "", "", "", ""},
		{"IPv6 outside the special-purpose ranges", "[2606:4700::1]:8443", "allow", "any_host", "shop/payments", "*:8443", "", "", ""},
	}
	f := whyCluster()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := why(t, f, tc.dest)
			if e.Decision != tc.decision || e.Reason != tc.reason || e.RuleSet != tc.ruleSet || e.Target != tc.target || e.Suggestion != tc.suggestion ||
				!strings.Contains(e.AddressClass, tc.class) {
				t.Errorf("got %s %s %q %q suggest %q class %q", e.Decision, e.Reason, e.RuleSet, e.Target, e.Suggestion, e.AddressClass)
			}
			var ns []string
			for _, u := range e.NotSelected {
				ns = append(ns, u.RuleSet)
			}
			if strings.Join(ns, ",") != tc.notSelected {
				t.Errorf("would allow if selected: %v", ns)
			}
			if strings.Join(e.SelectedBy, ",") != "egress-system/global,shop/db,shop/payments" || e.Mode != "Enforce" || e.GlobalNS != "egress-system" {
				t.Errorf("selected by %v, mode %s, global %s", e.SelectedBy, e.Mode, e.GlobalNS)
			}
			if len(e.Invalid) != 1 || !strings.Contains(e.Invalid[0], `shop/db: target 1 "bad target"`) {
				t.Errorf("invalid targets %v", e.Invalid)
			}
		})
	}
}

func TestWhyAudit(t *testing.T) {
	f := whyCluster(ruleSet("shop", "observe", nil, v1alpha1.ModeAudit, "audit.example.test:443"))
	e := why(t, f, "api.example.test:80")
	if e.Decision != "audit" || e.AuditBy != "shop/observe" || e.Mode != "Audit" || e.Suggestion != "api.example.test:80" {
		t.Errorf("%+v", e)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"why", "-n", "shop", "checkout-1", "api.example.test:80"}, env(nil), &out, &out, fakeDial(f)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"DESTINATION           DECISION   REASON     RULE SET       TARGET\napi.example.test:80   audit      no_match   shop/observe   -\n",
		"pod shop/checkout-1, labels app=checkout; rule sets selecting it: egress-system/global, shop/db, shop/observe, shop/payments (mode Audit)",
		"in Enforce mode it would be denied",
		`would be allowed by target "api.example.test:80" in a rule set selecting the pod`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestWhyErrors(t *testing.T) {
	f := whyCluster()
	plain := injectedPod("shop", "plain", nil, true)
	plain.Spec.InitContainers = nil
	f.pods = append(f.pods, plain)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"why", "-n", "shop", "pod/checkout-1"}, "want pod/NAME HOST:PORT"},
		{[]string{"why", "-n", "shop", "pod/checkout-1", "api.example.test"}, "missing port"},
		{[]string{"why", "-n", "shop", "pod/checkout-1", "api.example.test:0"}, "is not 1-65535"},
		{[]string{"why", "-n", "shop", "pod/nope", "api.example.test:443"}, "pod shop/nope not found"},
		{[]string{"why", "-n", "shop", "pod/plain", "api.example.test:443"}, "was not injected"},
		{[]string{"why", "-n", "shop", "-o", "xml", "pod/checkout-1", "a:1"}, `--output: "xml" is not table, yaml or json`},
	} {
		var out bytes.Buffer
		err := run(context.Background(), tc.args, env(nil), &out, &out, fakeDial(f))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestWhyRoutes(t *testing.T) {
	set := ruleSet("shop", "routed", nil, "", "routed.example.test:80")
	set.Spec.Routes = []v1alpha1.Route{{Name: "read", Hosts: []v1alpha1.RouteHost{"routed.example.test:80"},
		Matches: []v1alpha1.RouteMatch{{Method: "GET"}}}}
	e := why(t, whyCluster(set), "routed.example.test:80")
	if e.Decision != "allow" || e.Target != "routed.example.test:80" ||
		!strings.Contains(strings.Join(e.Notes, "\n"), "routes restrict routed.example.test:80: only plain HTTP") {
		t.Errorf("a host routes restrict: %+v", e)
	}
}
