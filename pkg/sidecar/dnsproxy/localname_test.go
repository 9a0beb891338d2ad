package dnsproxy

import "testing"

func TestIsLocalName(t *testing.T) {
	for _, tc := range []struct {
		host, suffix string
		name         string
		ok           bool
	}{
		{"api.github.com.egress.local", "egress.local", "api.github.com", true},
		{"API.GitHub.com.Egress.LOCAL.", "egress.local", "api.github.com", true},
		{"x.egress.local", ".Egress.Local.", "x", true},
		{"a.b.c.corp.internal", "corp.internal", "a.b.c", true},
		{"egress.local", "egress.local", "", false},
		{"egress.local.", "egress.local", "", false},
		{".egress.local", "egress.local", "", false},
		{"a..egress.local", "egress.local", "", false},
		{"notegress.local", "egress.local", "", false},
		{"api.github.com", "egress.local", "", false},
		{"api.egress.local.evil.com", "egress.local", "", false},
		{"api.egress.local", "", "", false},
		{"", "egress.local", "", false},
	} {
		name, ok := IsLocalName(tc.host, tc.suffix)
		if name != tc.name || ok != tc.ok {
			t.Errorf("IsLocalName(%q, %q) = %q, %v; want %q, %v", tc.host, tc.suffix, name, ok, tc.name, tc.ok)
		}
	}
}

func TestInLocalZone(t *testing.T) {
	for _, tc := range []struct {
		qname string
		want  bool
	}{
		{"egress.local.", true},
		{"EGRESS.LOCAL.", true},
		{"api.github.com.egress.local.", true},
		{"Api.Egress.Local", true},
		{"notegress.local.", false},
		{"local.", false},
		{"egress.local.com.", false},
		{".", false},
	} {
		if got := inLocalZone(tc.qname, "egress.local"); got != tc.want {
			t.Errorf("inLocalZone(%q) = %v, want %v", tc.qname, got, tc.want)
		}
	}
}
