package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"egress.io/egress/internal/cluster"
)

// prometheusManifest runs Debian's Prometheus as a Deployment that discovers pods through the API server and
// scrapes those whose prometheus.io/scrape, port and path annotations say so: the usual configuration.
const prometheusManifest = `apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: prometheus, namespace: monitoring}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-prometheus}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-prometheus}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-prometheus}
subjects: [{kind: ServiceAccount, name: prometheus, namespace: monitoring}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: prometheus, namespace: monitoring}
data:
  prometheus.yml: |
    global: {scrape_interval: 2s, scrape_timeout: 1s}
    scrape_configs:
    - job_name: kubernetes-pods
      kubernetes_sd_configs: [{role: pod}]
      relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: "true"
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
        action: replace
        target_label: __metrics_path__
        regex: (.+)
      - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
        action: replace
        regex: ([^:]+)(?::\d+)?;(\d+)
        replacement: $1:$2
        target_label: __address__
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: prometheus, namespace: monitoring}
spec:
  replicas: 1
  selector: {matchLabels: {app: prometheus}}
  template:
    metadata: {labels: {app: prometheus}}
    spec:
      serviceAccountName: prometheus
      terminationGracePeriodSeconds: 1
      containers:
      - name: prometheus
        image: ` + PrometheusRef + `
        imagePullPolicy: Never
        args: [--config.file=/etc/prometheus/prometheus.yml, --storage.tsdb.path=/prometheus, --web.listen-address=:9090]
        readinessProbe:
          httpGet: {path: /-/ready, port: 9090}
          periodSeconds: 1
        volumeMounts:
        - {name: config, mountPath: /etc/prometheus}
        - {name: data, mountPath: /prometheus}
      volumes:
      - {name: config, configMap: {name: prometheus}}
      - {name: data, emptyDir: {}}
---
apiVersion: v1
kind: Service
metadata: {name: prometheus, namespace: monitoring}
spec:
  selector: {app: prometheus}
  ports: [{port: 9090}]
`

// Prometheus is the Prometheus server running in the cluster.
type Prometheus struct{ c *cluster.Cluster }

// StartPrometheus installs Prometheus and waits until it is ready.
func StartPrometheus(ctx context.Context, c *cluster.Cluster) (*Prometheus, error) {
	if _, err := c.Kubectl(ctx, prometheusManifest, "apply", "-f", "-"); err != nil {
		return nil, err
	}
	if _, err := c.Kubectl(ctx, "", "-n", "monitoring", "rollout", "status", "deployment/prometheus", "--timeout=120s"); err != nil {
		return nil, err
	}
	return &Prometheus{c: c}, nil
}

// Query runs an instant PromQL query through the API server's service proxy and returns the value of its
// single sample, or an error if the result is not exactly one sample.
func (p *Prometheus) Query(ctx context.Context, query string) (float64, error) {
	body, err := p.c.Client.CoreV1().Services("monitoring").ProxyGet("http", "prometheus", "9090", "/api/v1/query",
		map[string]string{"query": query}).DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("query %q: %w: %s", query, err, body)
	}
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
