package sidecar_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"egress.io/egress/internal/netnstest"
	"egress.io/egress/internal/testworld"
)

func TestSidecarEndToEnd(t *testing.T) {
	netnstest.SkipIfShort(t)
	e := newEnv(t)

	t.Run("TLS origination for NAME.egress.local", func(t *testing.T) {
		out, err := e.curl(t, "-i", "http://api.example.test.egress.local/hello")
		if err != nil || !strings.Contains(out, "200") || !strings.Contains(out, "nginx https api.example.test") {
			t.Fatalf("got %q, %v", out, err)
		}
		// 100 sequential requests: the sidecar's pool reuses its upstream connection(s).
		urls := make([]string, 100)
		for i := range urls {
			urls[i] = "http://api.example.test.egress.local/pool"
		}
		out, err = e.curl(t, append([]string{"-o", "/dev/null", "-w", "%{http_code}\n"}, urls...)...)
		if err != nil || strings.Count(out, "200\n") != 100 {
			t.Fatalf("100 requests: %q, %v", out, err)
		}
		if conns := e.connectionsAt(t, "/pool"); len(conns) > 3 {
			t.Errorf("100 requests used %d upstream connections at nginx, want at most 3", len(conns))
		}
	})

	t.Run("TLS origination refuses a certificate for another name", func(t *testing.T) {
		out, err := e.curl(t, "-i", "http://wrong.example.test.egress.local/")
		if err != nil || !strings.Contains(out, "502") || !strings.Contains(out, "X-Egress-Error: tls_verification; wrong.example.test:443") {
			t.Errorf("got %q, %v", out, err)
		}
	})

	t.Run("plain HTTP allowed and denied", func(t *testing.T) {
		out, err := e.curl(t, "http://api.example.test/")
		if err != nil || out != "nginx http api.example.test\n" {
			t.Errorf("allowed: %q, %v", out, err)
		}
		out, err = e.curl(t, "-i", "http://denied.example.test/")
		if err != nil || !strings.Contains(out, "403 Forbidden") ||
			!strings.Contains(out, `X-Egress-Denied: denied.example.test:80; allow with target "denied.example.test:80"`) {
			t.Errorf("denied: %q, %v", out, err)
		}
	})

	t.Run("keep-alive request switching to a denied Host", func(t *testing.T) {
		out, err := netnstest.Helper(e.pair.Pod, appUID, appUID, "http1", "198.18.0.2:80",
			"api.example.test", "denied.example.test", "api.example.test")
		want := "200 \n403 denied.example.test:80; allow with target \"denied.example.test:80\"\n200 \n"
		if err != nil || out != want {
			t.Errorf("got %q, %v; want %q", out, err, want)
		}
	})

	t.Run("HTTPS passthrough by SNI", func(t *testing.T) {
		out, err := e.curl(t, "https://api.example.test/")
		if err != nil || out != "nginx https api.example.test\n" {
			t.Errorf("allowed SNI: %q, %v", out, err)
		}
		out, err = e.curl(t, "-6", "--resolve", "api.example.test:443:[2001:db8::99]", "https://api.example.test/")
		if err != nil || out != "nginx https api.example.test\n" {
			t.Errorf("allowed SNI over IPv6: %q, %v", out, err)
		}
		if out, err := e.curl(t, "https://other.example.test/"); err == nil {
			t.Errorf("denied SNI got through: %q", out)
		}
	})

	t.Run("allowed SNI sent to another IP reaches the allowed name", func(t *testing.T) {
		out, err := e.curl(t, "--resolve", "api.example.test:443:"+imposterIP.String(), "https://api.example.test/")
		if err != nil || out != "nginx https api.example.test\n" {
			t.Errorf("got %q, %v; want nginx's answer, not the imposter at %s", out, err, imposterIP)
		}
	})

	t.Run("opaque TCP", func(t *testing.T) {
		out, err := netnstest.Helper(e.pair.Pod, appUID, appUID, "tcp", "198.18.0.4:7000", "hi")
		if err != nil || out != "echo hi from 198.18.0.4" {
			t.Errorf("allowed by CIDR: %q, %v", out, err)
		}
		// Not resolved through the DNS proxy yet: the address alone is not allowed.
		if out, _ := netnstest.Helper(e.pair.Pod, appUID, appUID, "tcp", "198.18.0.5:7000", "hi"); strings.Contains(out, "echo") {
			t.Errorf("an address no target allows got through: %q", out)
		}
		out, err = netnstest.Helper(e.pair.Pod, appUID, appUID, "resolve-tcp", "raw.example.test", "7000", "hi")
		if err != nil || out != "198.18.0.5 echo hi from 198.18.0.5" {
			t.Errorf("allowed by a name the DNS proxy resolved: %q, %v", out, err)
		}
		// Refused at once, before any dial: a dial to 10.1.2.3 could only time out here, and the helper gives
		// up after 3s.
		start := time.Now()
		out, _ = netnstest.Helper(e.pair.Pod, appUID, appUID, "resolve-tcp", "private.example.test", "7000", "hi")
		if !strings.HasPrefix(out, "10.1.2.3") || strings.Contains(out, "echo") {
			t.Errorf("name resolving to a private address: %q", out)
		}
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("the refusal took %v", d)
		}
	})

	t.Run("name resolving to a private address over HTTP", func(t *testing.T) {
		out, err := e.curl(t, "-i", "http://private.example.test/")
		if err != nil || !strings.Contains(out, "403") ||
			!strings.Contains(out, `X-Egress-Denied: private.example.test:80; resolves to 10.1.2.3, a private or reserved address; allow with target "10.1.2.3:80"`) {
			t.Errorf("got %q, %v", out, err)
		}
	})

	t.Run("rules reload during a download", func(t *testing.T) {
		type result struct {
			size string
			err  error
		}
		var wg sync.WaitGroup
		results := make([]result, 2)
		for i, url := range []string{"https://api.example.test/large", "http://api.example.test.egress.local/large"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := e.curl(t, "-o", "/dev/null", "-w", "%{size_download}", url)
				results[i] = result{out, err}
			}()
		}
		time.Sleep(700 * time.Millisecond)
		testworld.WriteFile(t, e.rules+".new", `apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: e2e}
spec:
  targets:
  - other.example.test:80
  - other.example.test:443
`)
		if err := os.Rename(e.rules+".new", e.rules); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for {
			out, err := e.curl(t, "-o", "/dev/null", "-w", "%{http_code}", "http://other.example.test/")
			if err == nil && out == "200" {
				break
			}
			if time.Since(start) > time.Second {
				t.Fatalf("new rules not in force 1s after the edit: %q, %v", out, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if out, _ := e.curl(t, "-o", "/dev/null", "-w", "%{http_code}", "http://api.example.test/"); out != "403" {
			t.Errorf("a target removed by the reload still allows: %q", out)
		}
		if _, err := e.curl(t, "https://api.example.test/"); err == nil {
			t.Error("a new TLS connection to a removed target got through")
		}
		wg.Wait()
		for i, r := range results {
			if r.err != nil || r.size != fmt.Sprint(largeSize) {
				t.Errorf("download %d in flight during the reload: %q bytes, %v", i, r.size, r.err)
			}
		}
	})

	t.Run("metrics, logs and decisions", func(t *testing.T) {
		metrics, err := e.admin("/metrics")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`egress_http_requests_total{code="200",decision="allow",host="api.example.test",route=""}`,
			`egress_http_requests_total{code="403",decision="deny",host="denied.example.test",route=""} 2`,
			`egress_http_requests_total{code="502",decision="allow",host="wrong.example.test",route=""} 1`,
			`egress_upstream_errors_total{host="wrong.example.test",reason="tls_verification"} 1`,
			`egress_connections_total{decision="allow",host="api.example.test",port="443",protocol="tls"}`,
			`egress_connections_total{decision="deny",host="other.example.test",port="443",protocol="tls"} 1`,
			`egress_connections_total{decision="allow",host="198.18.0.4",port="7000",protocol="tcp"} 1`,
			`egress_connections_total{decision="allow",host="raw.example.test",port="7000",protocol="tcp"} 1`,
			`egress_connections_total{decision="deny",host="private.example.test",port="7000",protocol="tcp"} 1`,
			`egress_bytes_total{direction="received",host="api.example.test"}`,
			`egress_http_request_duration_seconds_bucket{host="api.example.test",route="",le="+Inf"}`,
			`egress_dns_queries_total{result="local"}`,
			`egress_dns_queries_total{result="forwarded"}`,
			`egress_policy_reloads_total{result="success"} 2`,
			`egress_policy_targets 2`,
			`egress_policy_last_reload_timestamp_seconds`,
			`go_goroutines`,
			`process_resident_memory_bytes`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		check := exec.Command("promtool", "check", "metrics")
		check.Stdin = strings.NewReader(metrics)
		if out, err := check.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
		if t.Failed() {
			t.Logf("/metrics:\n%s", metrics)
		}

		data, err := e.admin("/debug/decisions")
		if err != nil {
			t.Fatal(err)
		}
		var decisions []map[string]any
		if err := json.Unmarshal([]byte(data), &decisions); err != nil {
			t.Fatalf("/debug/decisions is not a JSON array: %v\n%s", err, data)
		}
		found := false
		for _, d := range decisions {
			if d["decision"] == "deny" && d["host"] == "denied.example.test" && d["suggestion"] == "denied.example.test:80" {
				found = true
			}
		}
		if !found {
			t.Errorf("/debug/decisions has no denial of denied.example.test:\n%s", data)
		}

		var denials int
		for _, line := range strings.Split(e.stderr.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			if rec["decision"] == "deny" {
				denials++
				for _, field := range []string{"time", "reason", "protocol", "host", "ip", "port", "rule_set", "target", "suggestion"} {
					if _, ok := rec[field]; !ok {
						t.Errorf("denial log line without %q: %s", field, line)
					}
				}
			}
		}
		if denials < 5 {
			t.Errorf("%d denial log lines", denials)
		}
	})

	t.Run("SIGTERM drains and exits 0", func(t *testing.T) {
		if err := e.sidecar.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- e.sidecar.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sidecar exited with %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("sidecar still running 5s after SIGTERM (drain timeout 2s)")
		}
		// Fail closed: nothing answers on the capture port now.
		if out, err := e.curl(t, "http://api.example.test/"); err == nil {
			t.Errorf("a request got through with the sidecar stopped: %q", out)
		}
	})
}
