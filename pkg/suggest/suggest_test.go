package suggest

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/record"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func at(min int) time.Time { return time.Date(2026, 11, 30, 12, min, 0, 0, time.UTC) }

// entry is a summary entry seen count times between minutes first and last.
func entry(decision, protocol, target string, count uint64, first, last int) record.SummaryEntry {
	return record.SummaryEntry{SummaryKey: record.SummaryKey{Decision: decision, Protocol: protocol, Target: target},
		Count: count, FirstSeen: at(first), LastSeen: at(last), Reason: "no_match"}
}

func pod(name string, entries ...record.SummaryEntry) PodSummary {
	return PodSummary{Pod: name, Summary: record.SummaryReport{Entries: entries}}
}

// line renders an observation for comparison: target, count, minutes, decisions, protocols, pods.
func line(o Observation) string {
	return o.Target.String() + " x" + itoa(o.Count) + " " + itoa(uint64(o.FirstSeen.Minute())) + "-" + itoa(uint64(o.LastSeen.Minute())) +
		" " + strings.Join(o.Decisions, ",") + " " + strings.Join(o.Protocols, ",") + " " + strings.Join(o.Pods, ",")
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func lines(obs []Observation) string {
	var out []string
	for _, o := range obs {
		out = append(out, line(o))
	}
	return strings.Join(out, "\n")
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name string
		pods []PodSummary
		want []string
	}{
		{"one pod, deny and audit, allows ignored", []PodSummary{pod("a",
			entry("deny", "http", "api.example.test:80", 3, 1, 5),
			entry("audit", "tls", "api.example.test:443", 2, 2, 3),
			entry("allow", "tls", "*.example.test:443", 9, 0, 9),
		)}, []string{
			"api.example.test:80 x3 1-5 deny http a",
			"api.example.test:443 x2 2-3 audit tls a",
		}},
		{"overlapping pods: one target, counts summed, first and last widened, both pods", []PodSummary{
			pod("a", entry("deny", "http", "api.example.test:80", 3, 4, 5)),
			pod("b", entry("deny", "http", "api.example.test:80", 1, 2, 9), entry("audit", "http", "API.Example.Test.:80", 1, 7, 7)),
		}, []string{"api.example.test:80 x5 2-9 audit,deny http a,b"}},
		{"a target seen over two protocols", []PodSummary{pod("a",
			entry("deny", "https", "api.example.test:443", 1, 1, 1), entry("deny", "tls", "api.example.test:443", 1, 2, 2),
		)}, []string{"api.example.test:443 x2 1-2 deny https,tls a"}},
		{"traffic without a name: single addresses, IPv4 and IPv6, after names", []PodSummary{pod("a",
			entry("deny", "tcp", "203.0.113.7:5432", 4, 1, 2),
			entry("audit", "tcp", "[2001:db8::1]:5432", 1, 3, 3),
			entry("deny", "tcp", "198.51.100.2:22", 1, 3, 3),
			entry("deny", "tls", "z.example.test:443", 1, 3, 3),
		)}, []string{
			"z.example.test:443 x1 3-3 deny tls a",
			"198.51.100.2:22 x1 3-3 deny tcp a",
			"203.0.113.7:5432 x4 1-2 deny tcp a",
			"[2001:db8::1]:5432 x1 3-3 audit tcp a",
		}},
		{"names sorted by domain from the right, then port", []PodSummary{pod("a",
			entry("deny", "tls", "b.example.test:443", 1, 1, 1),
			entry("deny", "http", "b.example.test:80", 1, 1, 1),
			entry("deny", "tls", "a.other.test:443", 1, 1, 1),
			entry("deny", "tls", "example.test:443", 1, 1, 1),
		)}, []string{
			"example.test:443 x1 1-1 deny tls a",
			"b.example.test:80 x1 1-1 deny http a",
			"b.example.test:443 x1 1-1 deny tls a",
			"a.other.test:443 x1 1-1 deny tls a",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := lines(Merge(tc.pods).Observations)
			if got != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestMergeSkipsWhatNoTargetAllowsAndCountsOverflow(t *testing.T) {
	a := pod("a", entry("deny", "http", "", 2, 1, 1), entry("deny", "http", "bad_name!:80", 1, 1, 1), entry("deny", "tls", "ok.example.test:443", 1, 1, 1))
	a.Summary.Other = record.SummaryOther{Count: 7, ByDecision: map[string]uint64{"deny": 4, "audit": 1, "allow": 2}}
	m := Merge([]PodSummary{a, pod("b")})
	if len(m.Observations) != 1 || len(m.Skipped) != 2 || m.Overflow["a"] != 5 || len(m.Overflow) != 1 {
		t.Fatalf("merged %+v", m)
	}
	if !strings.Contains(m.Skipped[0].Why, "reason no_match") || !strings.Contains(m.Skipped[1].Why, "not a valid target") {
		t.Errorf("skipped: %+v", m.Skipped)
	}
}

func TestMinimal(t *testing.T) {
	obs := func(entries ...record.SummaryEntry) []Observation {
		return Merge([]PodSummary{pod("a", entries...)}).Observations
	}
	allowedNames := map[string]bool{"api.example.test:443": true, "203.0.113.7:5432": true}
	tests := []struct {
		name string
		obs  []Observation
		opts Options
		want []string
		left []string // already allowed
	}{
		{"each target as seen, narrowest", obs(
			entry("deny", "http", "a.example.test:80", 1, 1, 1), entry("deny", "http", "b.example.test:80", 1, 1, 1),
			entry("deny", "tcp", "203.0.113.8:5432", 1, 1, 1),
		), Options{}, []string{
			"a.example.test:80 x1 1-1 deny http a", "b.example.test:80 x1 1-1 deny http a", "203.0.113.8:5432 x1 1-1 deny tcp a",
		}, nil},
		{"what the live rule sets allow is left out", obs(
			entry("audit", "tls", "api.example.test:443", 5, 1, 2), entry("audit", "tcp", "203.0.113.7:5432", 1, 1, 1),
			entry("audit", "http", "api.example.test:80", 1, 3, 3),
		), Options{Allowed: func(o Observation) bool { return allowedNames[o.Target.String()] }},
			[]string{"api.example.test:80 x1 3-3 audit http a"},
			[]string{"api.example.test:443 x5 1-2 audit tls a", "203.0.113.7:5432 x1 1-1 audit tcp a"}},
		{"--wildcards: siblings on one port collapse, merged; a lone name and other ports stay", obs(
			entry("deny", "tls", "a.cdn.example.test:443", 2, 1, 2), entry("audit", "tls", "b.cdn.example.test:443", 1, 3, 3),
			entry("deny", "http", "c.cdn.example.test:80", 1, 1, 1), entry("deny", "tls", "api.example.test:443", 1, 1, 1),
		), Options{Wildcards: true}, []string{
			"api.example.test:443 x1 1-1 deny tls a",
			"*.cdn.example.test:443 x3 1-3 audit,deny tls a",
			"c.cdn.example.test:80 x1 1-1 deny http a",
		}, nil},
		{"--wildcards never collapses under a one-label parent", obs(
			entry("deny", "tls", "a.test:443", 1, 1, 1), entry("deny", "tls", "b.test:443", 1, 1, 1),
		), Options{Wildcards: true}, []string{"a.test:443 x1 1-1 deny tls a", "b.test:443 x1 1-1 deny tls a"}, nil},
		{"--wildcards: a name under a collapsed wildcard deeper down is covered by it", obs(
			entry("deny", "tls", "a.example.test:443", 1, 1, 1), entry("deny", "tls", "b.example.test:443", 1, 1, 1),
			entry("deny", "tls", "x.y.example.test:443", 1, 5, 5),
		), Options{Wildcards: true}, []string{"*.example.test:443 x3 1-5 deny tls a"}, nil},
		{"addresses are never collapsed: CIDR-only traffic gets one target per address", obs(
			entry("deny", "tcp", "203.0.113.7:5432", 1, 1, 1), entry("deny", "tcp", "203.0.113.9:5432", 1, 1, 1),
		), Options{Wildcards: true}, []string{"203.0.113.7:5432 x1 1-1 deny tcp a", "203.0.113.9:5432 x1 1-1 deny tcp a"}, nil},
		{"nothing denied or audited: empty", nil, Options{Wildcards: true}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Minimal(tc.obs, tc.opts)
			if got := lines(r.Targets); got != strings.Join(tc.want, "\n") {
				t.Errorf("targets:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
			if got := lines(r.AlreadyAllowed); got != strings.Join(tc.left, "\n") {
				t.Errorf("already allowed:\n%s\nwant:\n%s", got, strings.Join(tc.left, "\n"))
			}
		})
	}
}

func TestCovers(t *testing.T) {
	mk := func(s string) Observation {
		o := Merge([]PodSummary{pod("a", entry("deny", "tcp", s, 1, 1, 1))}).Observations
		if len(o) != 1 {
			t.Fatalf("%s does not parse", s)
		}
		return o[0]
	}
	tests := []struct {
		a, b string
		want bool
	}{
		{"*.example.test:443", "a.example.test:443", true},
		{"*.example.test:443", "a.b.example.test:443", true},
		{"*.example.test:443", "example.test:443", false}, // a wildcard never matches its suffix
		{"*.example.test:443", "a.example.test:80", false},
		{"*.example.test:1-1024", "a.example.test:443", true},
		{"*.example.test:443", "*.b.example.test:443", true},
		{"203.0.113.0/24:5432", "203.0.113.7:5432", true},
		{"203.0.113.7:5432", "203.0.113.0/24:5432", false},
		{"*:443", "203.0.113.7:443", true},
		{"a.example.test:443", "a.example.test:443", false},
	}
	for _, tc := range tests {
		if got := covers(mk(tc.a).Target, mk(tc.b).Target); got != tc.want {
			t.Errorf("covers(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestYAML(t *testing.T) {
	m := Merge([]PodSummary{
		pod("checkout-1", entry("audit", "http", "api.example.test:80", 3, 1, 4), entry("audit", "tcp", "203.0.113.7:5432", 1, 2, 2)),
		pod("checkout-2", entry("audit", "http", "api.example.test:80", 1, 5, 5), entry("deny", "tls", "a.cdn.example.test:443", 1, 6, 6),
			entry("deny", "tls", "b.cdn.example.test:443", 2, 6, 7)),
	})
	r := Minimal(m.Observations, Options{Wildcards: true})
	set := RuleSet("checkout-egress", "shop", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}}, r.Targets)
	got, err := YAML(set, r.Targets, []string{"Suggested by kubectl egress suggest."})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/checkout.golden.yaml", got)
	back, err := policy.LoadRuleSets(strings.NewReader(got), "suggested")
	if err != nil || len(back) != 1 || fmt.Sprint(back[0].Spec.Targets) != fmt.Sprint(set.Spec.Targets) ||
		back[0].Spec.PodSelector.MatchLabels["app"] != "checkout" || back[0].Name != "checkout-egress" {
		t.Errorf("the YAML reads back as %+v, %v", back, err)
	}
	empty, err := YAML(RuleSet("x", "shop", nil, nil), nil, nil)
	if err != nil || !strings.HasSuffix(empty, "spec:\n  targets: []\n") {
		t.Errorf("empty: %q %v", empty, err)
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", path, got)
	}
}
