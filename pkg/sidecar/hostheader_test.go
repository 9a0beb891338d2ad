package sidecar

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
		found   bool
		wantErr string
	}{
		{"agrees", req("http://api.example.test/x", "HTTP/1.1"), []string{"api.example.test"}, true, ""},
		{"agrees, case and default port", req("http://API.example.test:80/x", "HTTP/1.1"), []string{"api.example.test"}, true, ""},
		{"disagrees", req("http://evil.example.test/x", "HTTP/1.1"), []string{"api.example.test"}, true, "Host header is"},
		{"disagrees on port", req("http://api.example.test:8080/x", "HTTP/1.1"), []string{"api.example.test"}, true, "Host header is"},
		{"two Host headers", req("http://api.example.test/x", "HTTP/1.1"), []string{"api.example.test", "api.example.test"}, true, "more than one"},
		{"HTTP/1.1 without Host", req("http://api.example.test/x", "HTTP/1.1"), nil, true, "without a Host"},
		{"HTTP/1.0 without Host", req("http://api.example.test/x", "HTTP/1.0"), nil, true, ""},
		{"https scheme", req("https://api.example.test/x", "HTTP/1.1"), []string{"api.example.test"}, true, "scheme"},
		{"head not found", req("http://api.example.test/x", "HTTP/1.1"), nil, false, "cannot check"},
	}
	for _, tt := range tests {
		err := checkAbsoluteForm(tt.r, tt.hosts, tt.found)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: checkAbsoluteForm = %v, want error containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestHeadTap(t *testing.T) {
	stream := "GET http://a.test/1 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 27\r\n\r\n" +
		"GET http://b.test/ HTTP/1.1\n" + // a body line that looks like a request line
		"POST http://b.test/2 HTTP/1.1\r\nhost:  b.test \r\nHOST: c.test\r\n\r\n" +
		"GET /origin HTTP/1.1\r\nHost: d.test\r\n\r\n"
	for _, chunk := range []int{1, 3, 7, len(stream)} {
		tap := newHeadTap()
		for s := stream; len(s) > 0; {
			n := min(chunk, len(s))
			tap.Observe([]byte(s[:n]))
			s = s[n:]
		}
		if hosts, ok := tap.Lookup("GET", "http://a.test/1", "HTTP/1.1"); !ok || strings.Join(hosts, ",") != "a.test" {
			t.Errorf("chunk %d: first head = %q, %v", chunk, hosts, ok)
		}
		if hosts, ok := tap.Lookup("POST", "http://b.test/2", "HTTP/1.1"); !ok || strings.Join(hosts, ",") != "b.test,c.test" {
			t.Errorf("chunk %d: second head = %q, %v", chunk, hosts, ok)
		}
		// Consumed heads are forgotten.
		if _, ok := tap.Lookup("GET", "http://a.test/1", "HTTP/1.1"); ok {
			t.Errorf("chunk %d: a consumed head was found again", chunk)
		}
		if _, ok := tap.Lookup("GET", "http://nowhere.test/", "HTTP/1.1"); ok {
			t.Errorf("chunk %d: found a head that never came", chunk)
		}
	}
}

func TestHeadTapBounds(t *testing.T) {
	tap := newHeadTap()
	for i := 0; i < 100; i++ {
		tap.Observe([]byte("GET /x HTTP/1.1\r\nHost: a\r\n\r\n"))
	}
	if len(tap.heads) > maxTapHeads {
		t.Errorf("tap holds %d heads, bound %d", len(tap.heads), maxTapHeads)
	}
	long := "GET http://a.test/ HTTP/1.1\r\nHost: " + strings.Repeat("a", 2*maxTapLine) + "\r\n\r\n"
	tap.Observe([]byte(long))
	if hosts, ok := tap.Lookup("GET", "http://a.test/", "HTTP/1.1"); !ok || len(hosts) != 1 || sameAuthority(hosts[0], "a.test") {
		t.Errorf("an over-long Host was recorded as %q, %v", hosts, ok)
	}
	if cap(tap.line) > maxTapLine {
		t.Errorf("line buffer grew to %d", cap(tap.line))
	}
	tap.Observe([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04"))
	if !tap.off {
		t.Error("the tap keeps watching after the h2c preface")
	}
}
