package httppath

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestTargetForHost(t *testing.T) {
	tests := []struct {
		host     string
		origPort uint16
		want     requestTarget
		wantErr  string
	}{
		{"api.example.test", 80, requestTarget{Name: "api.example.test", Port: 80, Host: "api.example.test"}, ""},
		{"api.example.test:8080", 8080, requestTarget{Name: "api.example.test", Port: 8080, Host: "api.example.test:8080"}, ""},
		// The port decided on is the connection's original port, whatever the Host says.
		{"api.example.test:9999", 80, requestTarget{Name: "api.example.test", Port: 80, Host: "api.example.test:9999"}, ""},
		{"198.51.100.7", 80, requestTarget{Name: "198.51.100.7", Port: 80, Host: "198.51.100.7"}, ""},
		{"[2001:db8::7]:8080", 8080, requestTarget{Name: "2001:db8::7", Port: 8080, Host: "[2001:db8::7]:8080"}, ""},
		{"api.github.com.egress.local", 80, requestTarget{Name: "api.github.com", Port: 443, Originate: true, Host: "api.github.com"}, ""},
		{"API.GitHub.com.Egress.Local.", 80, requestTarget{Name: "api.github.com", Port: 443, Originate: true, Host: "api.github.com"}, ""},
		{"api.github.com.egress.local:80", 80, requestTarget{Name: "api.github.com", Port: 443, Originate: true, Host: "api.github.com"}, ""},
		{"api.github.com.egress.local:8443", 8443, requestTarget{Name: "api.github.com", Port: 8443, Originate: true, Host: "api.github.com:8443"}, ""},
		{"api.github.com.egress.local:443", 443, requestTarget{Name: "api.github.com", Port: 443, Originate: true, Host: "api.github.com"}, ""},
		{"egress.local", 80, requestTarget{Name: "egress.local", Port: 80, Host: "egress.local"}, ""},
		{"", 80, requestTarget{}, "empty Host"},
		{":80", 80, requestTarget{}, "empty host name"},
		{"a.test:0", 80, requestTarget{}, "port must be"},
		{"a.test:+80", 80, requestTarget{}, "port must be"},
		{"a.test:http", 80, requestTarget{}, "port must be"},
		{"2001:db8::7", 80, requestTarget{}, "in brackets"},
		{"[not-v6]:80", 80, requestTarget{}, "not an IPv6 address"},
		{"[2001:db8::7]x", 80, requestTarget{}, "junk after"},
	}
	for _, tt := range tests {
		got, err := targetForHost(tt.host, tt.origPort, "egress.local")
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("targetForHost(%q) error = %v, want one containing %q", tt.host, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("targetForHost(%q, %d) = %+v, %v; want %+v", tt.host, tt.origPort, got, err, tt.want)
		}
	}
}

func TestCheckAbsoluteForm(t *testing.T) {
	req := func(uri, proto string) *http.Request {
		u, err := url.ParseRequestURI(uri)
		if err != nil {
			t.Fatal(err)
		}
		r := &http.Request{Method: "GET", URL: u, RequestURI: uri, Proto: proto, ProtoMajor: 1, ProtoMinor: 1}
		if proto == "HTTP/1.0" {
			r.ProtoMinor = 0
		}
		return r
	}
	tests := []struct {
		name    string
		r       *http.Request
		hosts   []string
		wantErr string
	}{
		{"agrees", req("http://api.example.test/x", "HTTP/1.1"), []string{"api.example.test"}, ""},
		{"agrees, case and default port", req("http://API.example.test:80/x", "HTTP/1.1"), []string{"api.example.test"}, ""},
		{"disagrees", req("http://evil.example.test/x", "HTTP/1.1"), []string{"api.example.test"}, "Host header is"},
		{"disagrees on port", req("http://api.example.test:8080/x", "HTTP/1.1"), []string{"api.example.test"}, "Host header is"},
		{"two Host headers", req("http://api.example.test/x", "HTTP/1.1"), []string{"api.example.test", "api.example.test"}, "more than one"},
		{"HTTP/1.1 without Host", req("http://api.example.test/x", "HTTP/1.1"), nil, "without a Host"},
		{"HTTP/1.0 without Host", req("http://api.example.test/x", "HTTP/1.0"), nil, ""},
		{"https scheme", req("https://api.example.test/x", "HTTP/1.1"), []string{"api.example.test"}, "scheme"},
	}
	for _, tt := range tests {
		err := checkAbsoluteForm(tt.r, tt.hosts)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: checkAbsoluteForm = %v, want error containing %q", tt.name, err, tt.wantErr)
		}
	}
}
