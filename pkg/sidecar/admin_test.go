package sidecar

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"egress.io/egress/pkg/policy/policytest"
	"egress.io/egress/pkg/sidecar/record"
)

// TestRunServesSummary: what the data path decides is counted in /summary, with the rule sets (and their
// generations) the policy was built from, and readiness is exported as egress_sidecar_ready.
func TestRunServesSummary(t *testing.T) {
	set := policytest.RuleSet("deps", "api.example.test:443")
	set.Namespace, set.UID, set.Generation = "shop", "uid-1", 4
	r := startSidecar(t, staticSource{set}, nil)
	for range 2 {
		c := r.dial(t, "198.51.100.1:80")
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /secret/path?token=hunter2 HTTP/1.1\r\nHost: denied.example.test\r\nConnection: close\r\n\r\n")
		if got, _ := io.ReadAll(c); !strings.Contains(string(got), "403 Forbidden") {
			t.Fatalf("response %q", got)
		}
	}
	resp, err := http.Get(r.admin + "/summary")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var s record.SummaryReport
	if err := json.Unmarshal(body, &s); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/summary: %v %q", err, body)
	}
	if len(s.Entries) != 1 || s.Entries[0].Target != "denied.example.test:80" || s.Entries[0].Count != 2 ||
		s.Entries[0].Decision != "deny" || s.Entries[0].Protocol != "http" {
		t.Errorf("entries %+v", s.Entries)
	}
	if strings.Contains(string(body), "secret") || strings.Contains(string(body), "hunter2") {
		t.Errorf("/summary holds the request's path or query: %s", body)
	}
	want := []record.RuleSetVersion{{Name: "shop/deps", UID: "uid-1", Generation: 4}}
	if s.Policy == nil || len(s.Policy.RuleSets) != 1 || s.Policy.RuleSets[0] != want[0] || s.Policy.Version != record.VersionOf(want) {
		t.Errorf("policy %+v", s.Policy)
	}
	resp, err = http.Get(r.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "\negress_sidecar_ready 1\n") {
		t.Errorf("/metrics lacks egress_sidecar_ready 1")
	}
}
