package sidecar_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"egress.io/egress/internal/netnstest"
	"egress.io/egress/internal/testworld"
)

// routedRules restricts origin.example.test's ports 8080 (HTTP) and 8443 (HTTPS) to routes.
const routedRules = `---
apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: routed}
spec:
  targets:
  - origin.example.test:8080
  - origin.example.test:8443
  routes:
  - name: read
    hosts: [origin.example.test:8080, origin.example.test:8443]
    matches:
    - method: GET
      path: {type: PathPrefix, value: /repos}
  - name: flaky
    hosts: [origin.example.test:8080]
    matches:
    - path: {type: PathPrefix, value: /flaky}
    retries: {attempts: 2, backoff: 10ms}
  - name: hang
    hosts: [origin.example.test:8080]
    matches:
    - path: {type: Exact, value: /hang}
    timeout: 300ms
  - name: failing
    hosts: [origin.example.test:8080]
    matches:
    - path: {type: Exact, value: /failing}
    retries: {attempts: 5, backoff: 1ms}
`

// deniedBackend sends denied plain HTTP to a Service in the cluster instead of the 403.
const deniedBackend = `  deniedBackend: {service: {name: sorry, namespace: egress-test, port: 80}}
`

// TestSidecarRoutes runs curl against route-restricted ports of origin.example.test through the sidecar:
// requests are allowed by method and path, TLS the sidecar cannot read is refused, and a route's retries
// and timeout apply.
func TestSidecarRoutes(t *testing.T) {
	netnstest.SkipIfShort(t)
	e := newEnv(t)
	e.writeRules(t, initialRules+routedRules)
	waitFor(t, "routed rules loaded", func() bool {
		out, err := e.admin("/metrics")
		return err == nil && strings.Contains(out, "egress_policy_targets 13")
	})

	t.Run("a request a route matches is allowed", func(t *testing.T) {
		out, err := e.curl(t, "http://origin.example.test:8080/repos/a")
		if want := "GET /repos/a origin.example.test:8080\n"; err != nil || out != want {
			t.Errorf("got %q, %v; want %q", out, err, want)
		}
	})
	t.Run("a request no route matches is denied, saying why", func(t *testing.T) {
		out, err := e.curl(t, "-i", "-X", "DELETE", "http://origin.example.test:8080/repos/a")
		if err != nil || !strings.Contains(out, "403 Forbidden") || !strings.Contains(out, "no route") {
			t.Errorf("got %q, %v; want a 403 naming the missing route", out, err)
		}
		out, err = e.curl(t, "-i", "http://origin.example.test:8080/admin")
		if err != nil || !strings.Contains(out, "403 Forbidden") {
			t.Errorf("got %q, %v; want a 403", out, err)
		}
	})
	t.Run("a path that is not normal is denied", func(t *testing.T) {
		out, err := e.curl(t, "-i", "--path-as-is", "http://origin.example.test:8080/repos/../admin")
		if err != nil || !strings.Contains(out, "403 Forbidden") {
			t.Errorf("got %q, %v; want a 403", out, err)
		}
	})
	t.Run("TLS the sidecar cannot read is refused on a route-restricted host", func(t *testing.T) {
		if out, err := e.curl(t, "https://origin.example.test:8443/repos/a"); err == nil {
			t.Errorf("passthrough TLS got through: %q", out)
		}
		want := `"hint":"routes restrict origin.example.test:8443 and the sidecar cannot see paths inside TLS: use http://origin.example.test.egress.local so that it can check them"`
		waitFor(t, "the hint logged", func() bool { return strings.Contains(e.stderr.String(), want) })
	})
	t.Run("TLS the sidecar originates is decided by route", func(t *testing.T) {
		out, err := e.curl(t, "http://origin.example.test.egress.local:8443/repos/b")
		if want := "GET /repos/b origin.example.test:8443\n"; err != nil || out != want {
			t.Errorf("got %q, %v; want %q", out, err, want)
		}
		out, err = e.curl(t, "-i", "-X", "POST", "http://origin.example.test.egress.local:8443/repos/b")
		if err != nil || !strings.Contains(out, "403 Forbidden") {
			t.Errorf("got %q, %v; want a 403", out, err)
		}
	})
	t.Run("a GET failing twice gets the third answer", func(t *testing.T) {
		out, err := e.curl(t, "http://origin.example.test:8080/flaky/get")
		if want := "ok after 3\n"; err != nil || out != want {
			t.Errorf("got %q, %v; want %q", out, err, want)
		}
		metrics, _ := e.admin("/metrics")
		if want := `egress_http_retries_total{host="origin.example.test",reason="503",route="routed/flaky"} 2`; !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(metrics, "egress_http_retries_total"))
		}
	})
	t.Run("a POST is not sent twice", func(t *testing.T) {
		out, err := e.curl(t, "-i", "-X", "POST", "-d", "x=1", "http://origin.example.test:8080/flaky/post")
		if err != nil || !strings.Contains(out, "503 Service Unavailable") {
			t.Errorf("got %q, %v; want the origin's 503", out, err)
		}
	})
	t.Run("a route's timeout answers 504", func(t *testing.T) {
		out, err := e.curl(t, "-i", "http://origin.example.test:8080/hang")
		if err != nil || !strings.Contains(out, "504 Gateway Timeout") || !strings.Contains(out, "route routed/hang allows 300ms") {
			t.Errorf("got %q, %v; want a 504 naming the route", out, err)
		}
		metrics, _ := e.admin("/metrics")
		if want := `egress_http_timeouts_total{host="origin.example.test",route="routed/hang"} 1`; !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(metrics, "egress_http_timeouts_total"))
		}
	})
	t.Run("the retry budget stops retries against an origin that always fails", func(t *testing.T) {
		const requests = 40
		args := []string{"-w", "%{http_code}\n"}
		for range requests {
			args = append(args, "-o", "/dev/null", "http://origin.example.test:8080/failing")
		}
		out, err := e.curl(t, args...)
		if want := strings.Repeat("503\n", requests); err != nil || out != want {
			t.Fatalf("got %q, %v; want %d 503s", out, err, requests)
		}
		metrics, _ := e.admin("/metrics")
		retries := metricValue(t, metrics, `egress_http_retries_total{host="origin.example.test",reason="503",route="routed/failing"}`)
		exhausted := metricValue(t, metrics, `egress_http_retry_budget_exhausted_total{host="origin.example.test",route="routed/failing"}`)
		// The budget: a fifth of the requests plus 10 a second over 10 s (the two retries of /flaky/get
		// count against the same host).
		if limit := 0.2*(requests+1) + 100; retries > limit || exhausted == 0 {
			t.Errorf("%v retries (budget %v) and %v refused by the budget for %d requests that could retry 5 times each",
				retries, limit, exhausted, requests)
		}
	})
	t.Run("denied plain HTTP goes to the rule set's deniedBackend", func(t *testing.T) {
		e.writeRules(t, initialRules+routedRules+deniedBackend)
		waitFor(t, "deniedBackend loaded", func() bool {
			out, err := e.curl(t, "http://denied.example.test/whoami")
			return err == nil && out == "you cannot go to denied.example.test right now\n"
		})
		// An allowed request is not redirected; TLS cannot be.
		if out, err := e.curl(t, "http://origin.example.test:8080/repos/c"); err != nil || out != "GET /repos/c origin.example.test:8080\n" {
			t.Errorf("allowed: %q, %v", out, err)
		}
		if out, err := e.curl(t, "https://denied.example.test/whoami"); err == nil {
			t.Errorf("denied TLS got through: %q", out)
		}
	})
}

// writeRules replaces the sidecar's rules file at once, as a ConfigMap update does.
func (e *env) writeRules(t *testing.T, rules string) {
	t.Helper()
	testworld.WriteFile(t, e.rules+".new", rules)
	if err := os.Rename(e.rules+".new", e.rules); err != nil {
		t.Fatal(err)
	}
}

// metricValue returns the value of the sample series in a Prometheus text exposition (0 when absent).
func metricValue(t *testing.T, exposition, series string) float64 {
	t.Helper()
	for _, l := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			return f
		}
	}
	return 0
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
