package testworld

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"egress.io/egress/internal/netnstest"
)

// NginxPreamble is the start of an nginx.conf that keeps every file nginx writes under {{dir}} and runs in
// the foreground as a child of the test. StartNginx replaces {{dir}}.
const NginxPreamble = `
daemon off;
master_process off;
pid {{dir}}/nginx.pid;
error_log {{dir}}/nginx-error.log warn;
events { worker_connections 1024; }
`

// NginxHTTPPreamble goes first in the http block: temp paths under {{dir}} and an access log of
// "$connection $scheme $host $request_uri $status" lines in {{dir}}/access.log.
const NginxHTTPPreamble = `
    client_body_temp_path {{dir}}/tmp-body;
    proxy_temp_path {{dir}}/tmp-proxy;
    fastcgi_temp_path {{dir}}/tmp-fastcgi;
    uwsgi_temp_path {{dir}}/tmp-uwsgi;
    scgi_temp_path {{dir}}/tmp-scgi;
    log_format conns '$connection $scheme $host $request_uri $status';
    access_log {{dir}}/access.log conns;
    keepalive_requests 10000;
    default_type text/plain;
`

// StartNginx writes conf (with {{dir}} replaced by dir) to dir/nginx.conf, runs nginx in namespace ns as
// root, and waits until readyURL answers from inside ns. nginx is killed in t.Cleanup, which also logs
// its output and error log if t failed.
func StartNginx(t T, ns, dir, conf, readyURL string) {
	t.Helper()
	path := filepath.Join(dir, "nginx.conf")
	WriteFile(t, path, strings.ReplaceAll(conf, "{{dir}}", dir))
	cmd := netnstest.Command(ns, 0, 0, "nginx", "-p", dir, "-c", path)
	var out SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			errLog, _ := os.ReadFile(filepath.Join(dir, "nginx-error.log"))
			t.Logf("nginx output:\n%s\nnginx error log:\n%s", out.String(), errLog)
		}
	})
	WaitFor(t, "nginx at "+readyURL, 10*time.Second, func() bool {
		return exec.Command("ip", "netns", "exec", ns, "curl", "-sk", "-o", "/dev/null", "--max-time", "1", readyURL).Run() == nil
	})
}
