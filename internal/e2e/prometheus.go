package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"egress.io/egress/internal/testworld"
)

// Prometheus is a real Prometheus server scraping the pod's sidecar.
type Prometheus struct {
	addr string
}

// StartPrometheus runs Debian's prometheus on the host with a static scrape config for the pod's admin port
// (the address and path the webhook's scrape annotations name), scraping every second.
func (e *Env) StartPrometheus(t T, pod *Pod) *Prometheus {
	t.Helper()
	dir := testworld.Dir(t, "egress-e2e-prometheus-")
	port := freePorts(t, 1)[0]
	target := PodIP.String() + ":" + pod.Spec().Annotations["prometheus.io/port"]
	config := fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
- job_name: egress-sidecar
  metrics_path: %s
  static_configs: [{targets: ["%s"], labels: {namespace: %s, pod: %s}}]
`, pod.Spec().Annotations["prometheus.io/path"], target, pod.Spec().Namespace, pod.Spec().Name)
	testworld.WriteFile(t, filepath.Join(dir, "prometheus.yml"), config)
	cmd := exec.Command("prometheus", "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:"+strconv.Itoa(port))
	out := &testworld.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	p := &Prometheus{addr: "127.0.0.1:" + strconv.Itoa(port)}
	testworld.WaitFor(t, "prometheus ready", 30*time.Second, func() bool {
		resp, err := http.Get("http://" + p.addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// Query runs an instant PromQL query and returns the value of its single sample, or an error if the result
// is not exactly one sample.
func (p *Prometheus) Query(query string) (float64, error) {
	resp, err := http.Get("http://" + p.addr + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		return 0, fmt.Errorf("query %q: %s", query, body)
	}
	if len(r.Data.Result) != 1 {
		return 0, fmt.Errorf("query %q: %d samples, want 1: %s", query, len(r.Data.Result), body)
	}
	text, _ := r.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(text, 64)
}
