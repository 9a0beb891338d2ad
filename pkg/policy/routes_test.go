package policy

import (
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
)

func routeSet(name string, mode v1alpha1.Mode, targets []string, routes ...v1alpha1.Route) v1alpha1.EgressRuleSet {
	set := ruleSet("shop", name, mode, nil, targets...)
	set.Spec.Routes = routes
	return set
}

func hosts(h ...string) []v1alpha1.RouteHost {
	out := make([]v1alpha1.RouteHost, len(h))
	for i, s := range h {
		out[i] = v1alpha1.RouteHost(s)
	}
	return out
}

func TestDecideRequest(t *testing.T) {
	read := v1alpha1.Route{Name: "read", Hosts: hosts("api.github.com:443"), Matches: []v1alpha1.RouteMatch{
		{Method: "GET", Path: &v1alpha1.PathMatch{Value: "/repos"}},
		{Method: "HEAD"},
	}, Timeout: &metav1.Duration{Duration: 5 * time.Second}, Retries: &v1alpha1.RouteRetries{Attempts: 2}}
	hooks := v1alpha1.Route{Name: "hooks", Hosts: hosts("*.hooks.example:443"), Matches: []v1alpha1.RouteMatch{
		{Method: "POST", Path: &v1alpha1.PathMatch{Type: v1alpha1.PathExact, Value: "/v1/events"},
			Headers: []v1alpha1.HeaderMatch{{Name: "content-type", Value: "application/json"}}},
		{Path: &v1alpha1.PathMatch{Type: v1alpha1.PathRegularExpression, Value: `/v2/events/[0-9]+`}},
	}}
	all := v1alpha1.Route{Name: "all", Hosts: hosts("timeouts.example:80")}
	m, problems := Compile([]v1alpha1.EgressRuleSet{routeSet("deps", "", []string{"api.github.com:443", "*.example:443", "timeouts.example:80", "other.example:80"}, read, hooks, all)})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	json := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name, host string
		port       uint16
		req        Request
		action     Action
		reason     Reason
		route      string
	}{
		{"GET under the prefix", "api.github.com", 443, Request{Method: "GET", Path: "/repos/a/b"}, Allow, ReasonExact, "shop/deps/read"},
		{"the prefix itself", "API.GitHub.com.", 443, Request{Method: "GET", Path: "/repos"}, Allow, ReasonExact, "shop/deps/read"},
		{"prefix is element-wise", "api.github.com", 443, Request{Method: "GET", Path: "/reposx"}, Deny, ReasonNoRoute, ""},
		{"DELETE is not a route", "api.github.com", 443, Request{Method: "DELETE", Path: "/repos/a/b"}, Deny, ReasonNoRoute, ""},
		{"HEAD anywhere", "api.github.com", 443, Request{Method: "HEAD", Path: "/anything"}, Allow, ReasonExact, "shop/deps/read"},
		{"dot segments", "api.github.com", 443, Request{Method: "GET", Path: "/repos/../admin"}, Deny, ReasonPathNotNormal, ""},
		{"encoded slash", "api.github.com", 443, Request{Method: "GET", Path: "/repos%2F..%2Fadmin"}, Deny, ReasonPathNotNormal, ""},
		{"double slash", "api.github.com", 443, Request{Method: "GET", Path: "//repos/a"}, Deny, ReasonPathNotNormal, ""},
		{"other port is not restricted", "api.github.com", 80, Request{Method: "DELETE", Path: "/x"}, Deny, ReasonNoMatch, ""},
		{"wildcard host, exact path and header", "a.hooks.example", 443, Request{Method: "POST", Path: "/v1/events", Header: json}, Allow, ReasonWildcard, "shop/deps/hooks"},
		{"header missing", "a.hooks.example", 443, Request{Method: "POST", Path: "/v1/events"}, Deny, ReasonNoRoute, ""},
		{"regular expression", "a.hooks.example", 443, Request{Method: "PUT", Path: "/v2/events/42"}, Allow, ReasonWildcard, "shop/deps/hooks"},
		{"regular expression is anchored", "a.hooks.example", 443, Request{Method: "PUT", Path: "/v2/events/42/x"}, Deny, ReasonNoRoute, ""},
		{"unrestricted sibling", "b.example", 443, Request{Method: "DELETE", Path: "/"}, Allow, ReasonWildcard, ""},
		{"a route without matches allows all", "timeouts.example", 80, Request{Method: "PATCH", Path: "/x"}, Allow, ReasonExact, "shop/deps/all"},
		{"a route allows nothing a target does not", "unlisted.hooks.example", 80, Request{Method: "POST", Path: "/v1/events", Header: json}, Deny, ReasonNoMatch, ""},
		{"an address is never route-restricted", "203.0.113.9", 443, Request{Method: "GET", Path: "/"}, Deny, ReasonNoMatch, ""},
	}
	for _, tt := range tests {
		d := m.DecideRequest(tt.host, tt.port, tt.req)
		route := ""
		if d.Route != nil {
			route = d.Route.Name
		}
		if d.Action != tt.action || d.Reason != tt.reason || route != tt.route {
			t.Errorf("%s: %s/%s route %q; want %s/%s %q", tt.name, d.Action, d.Reason, route, tt.action, tt.reason, tt.route)
		}
	}
	r := m.DecideRequest("api.github.com", 443, Request{Method: "GET", Path: "/repos/x"}).Route
	if r.Timeout != 5*time.Second || r.Retries != 2 || r.Backoff != DefaultRetryBackoff {
		t.Errorf("route settings %+v", r)
	}
	if !m.RouteRestricted("api.github.com", 443) || m.RouteRestricted("api.github.com", 80) || m.Routes() != 3 {
		t.Error("RouteRestricted or Routes")
	}

	// Audit mode lets the request through, saying which route was missing.
	audit, _ := Compile([]v1alpha1.EgressRuleSet{routeSet("deps", "", []string{"api.github.com:443"}, read), ruleSet("shop", "observe", v1alpha1.ModeAudit, nil, "x.test:1")})
	if d := audit.DecideRequest("api.github.com", 443, Request{Method: "DELETE", Path: "/repos/a"}); d.Action != Audit || d.Reason != ReasonNoRoute || d.RuleSet != "shop/observe" {
		t.Errorf("audit: %+v", d)
	}
}

func TestCompileRouteProblems(t *testing.T) {
	good := v1alpha1.Route{Name: "good", Hosts: hosts("a.example:443")}
	bad := []v1alpha1.Route{
		{Name: "cidr", Hosts: hosts("10.0.0.0/8:443")},
		{Name: "any", Hosts: hosts("*:443")},
		{Name: "regexp", Hosts: hosts("b.example:443"), Matches: []v1alpha1.RouteMatch{{Path: &v1alpha1.PathMatch{Type: v1alpha1.PathRegularExpression, Value: "(unclosed"}}}},
		{Name: "relative", Hosts: hosts("b.example:443"), Matches: []v1alpha1.RouteMatch{{Path: &v1alpha1.PathMatch{Type: v1alpha1.PathExact, Value: "x"}}}},
		{Name: "retries", Hosts: hosts("b.example:443"), Retries: &v1alpha1.RouteRetries{Attempts: 9}},
		{Name: "timeout", Hosts: hosts("b.example:443"), Timeout: &metav1.Duration{Duration: 2 * time.Hour}},
		{Name: "nohosts"},
	}
	m, problems := Compile([]v1alpha1.EgressRuleSet{routeSet("deps", "", []string{"b.example:443"}, append([]v1alpha1.Route{good}, bad...)...)})
	if len(problems) != len(bad) || m.Routes() != 1 {
		t.Fatalf("%d problems, %d routes: %v", len(problems), m.Routes(), problems)
	}
	for i, p := range problems {
		if p.Route != bad[i].Name || !strings.Contains(p.Error(), `route `) {
			t.Errorf("problem %d: %v", i, p)
		}
	}
	// A skipped route whose hosts parse still restricts them, and allows nothing: a mistake in a route never
	// widens access.
	if !m.RouteRestricted("b.example", 443) {
		t.Error("an invalid route does not restrict its host")
	}
	if d := m.DecideRequest("b.example", 443, Request{Method: "GET", Path: "/"}); d.Action != Deny || d.Reason != ReasonNoRoute {
		t.Errorf("request on a host with only an invalid route: %+v", d)
	}
}

func TestDeniedBackend(t *testing.T) {
	a := ruleSet("shop", "a", "", nil, "x.example:80")
	a.Spec.DeniedBackend = &v1alpha1.Backend{Service: v1alpha1.ServiceRef{Name: "sorry", Port: 8080}}
	b := ruleSet("egress-system", "b", "", nil, "y.example:80")
	b.Spec.DeniedBackend = &v1alpha1.Backend{Service: v1alpha1.ServiceRef{Name: "global-sorry", Namespace: "web", Port: 80}}
	m, _ := Compile([]v1alpha1.EgressRuleSet{a, b})
	if got := m.DeniedBackend(); got == nil || got.Name != "global-sorry" || got.Namespace != "web" || got.RuleSet != "egress-system/b" {
		t.Errorf("backend %+v: want the first rule set's by namespace and name", got)
	}
	m, _ = Compile([]v1alpha1.EgressRuleSet{a})
	if got := m.DeniedBackend(); got == nil || got.Namespace != "shop" || got.Port != 8080 {
		t.Errorf("backend %+v: want the rule set's namespace by default", got)
	}
}
