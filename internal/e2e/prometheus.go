package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/internal/cluster"
	"egress.io/egress/internal/monitoring"
)

// prometheusManifest runs Debian's Prometheus as a Deployment scraping the pods whose prometheus.io/scrape,
// port and path annotations say so. Debian builds Prometheus without Kubernetes service discovery
// (kubernetes_sd_configs), so the discovery step is AnnotatedTargets: the pods' annotations become file_sd
// targets in the ConfigMap prometheus-targets; the scraping is Prometheus's own, over the pod network.
const prometheusManifest = `apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: prometheus, namespace: monitoring}
data:
  prometheus.yml: |
    global: {scrape_interval: 2s, scrape_timeout: 1s, evaluation_interval: 2s}
    rule_files: [/etc/prometheus-rules/*.yaml]
    scrape_configs:
    - job_name: annotated-pods
      file_sd_configs: [{files: [/etc/prometheus-targets/*.json], refresh_interval: 2s}]
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
        - {name: targets, mountPath: /etc/prometheus-targets}
        - {name: rules, mountPath: /etc/prometheus-rules}
        - {name: data, mountPath: /prometheus}
      volumes:
      - {name: config, configMap: {name: prometheus}}
      - {name: targets, configMap: {name: prometheus-targets}}
      - {name: rules, configMap: {name: prometheus-rules}}
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

// StartPrometheus installs Prometheus with the annotated pods as targets and the product's alerting rules
// (manifests/monitoring) as its rule file, and waits until it is ready.
func StartPrometheus(ctx context.Context, c *cluster.Cluster) (*Prometheus, error) {
	if _, err := c.Kubectl(ctx, prometheusManifest, "apply", "-f", "-"); err != nil {
		return nil, err
	}
	rules, err := os.ReadFile(filepath.Join(monitoring.Dir(), monitoring.RulesFile))
	if err != nil {
		return nil, err
	}
	rulesCM := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-rules", Namespace: "monitoring"},
		Data:       map[string]string{"egress-alerts.yaml": string(rules)},
	}
	if _, err := c.Client.CoreV1().ConfigMaps("monitoring").Create(ctx, rulesCM, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	targets, err := AnnotatedTargets(ctx, c)
	if err != nil {
		return nil, err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-targets", Namespace: "monitoring"},
		Data:       map[string]string{"pods.json": targets},
	}
	if _, err := c.Client.CoreV1().ConfigMaps("monitoring").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if _, err := c.Kubectl(ctx, "", "-n", "monitoring", "rollout", "status", "deployment/prometheus", "--timeout=120s"); err != nil {
		return nil, err
	}
	return &Prometheus{c: c}, nil
}

// AnnotatedTargets is the discovery Prometheus's kubernetes_sd_configs with the usual annotation relabelling
// would do: every running pod annotated prometheus.io/scrape=true, at its IP and prometheus.io/port, with
// its prometheus.io/path, labelled with its namespace and name, as file_sd JSON.
func AnnotatedTargets(ctx context.Context, c *cluster.Cluster) (string, error) {
	pods, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	groups := []group{}
	for _, p := range pods.Items {
		a := p.Annotations
		if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] == "" || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			continue
		}
		path := a["prometheus.io/path"]
		if path == "" {
			path = "/metrics"
		}
		groups = append(groups, group{
			Targets: []string{net.JoinHostPort(p.Status.PodIP, a["prometheus.io/port"])},
			Labels:  map[string]string{"__metrics_path__": path, "namespace": p.Namespace, "pod": p.Name},
		})
	}
	data, err := json.Marshal(groups)
	return string(data), err
}

// Query runs an instant PromQL query through the API server's service proxy and returns the value of its
// single sample, or an error if the result is not exactly one sample.
func (p *Prometheus) Query(ctx context.Context, query string) (float64, error) {
	body, err := p.get(ctx, "/api/v1/query", map[string]string{"query": query})
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

func (p *Prometheus) get(ctx context.Context, path string, params map[string]string) ([]byte, error) {
	return p.c.Client.CoreV1().Services("monitoring").ProxyGet("http", "prometheus", "9090", path, params).DoRaw(ctx)
}

// Series runs an instant PromQL query and returns how many series it returned.
func (p *Prometheus) Series(ctx context.Context, query string) (int, error) {
	body, err := p.get(ctx, "/api/v1/query", map[string]string{"query": query})
	if err != nil {
		return 0, fmt.Errorf("query %q: %w: %s", query, err, body)
	}
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		return 0, fmt.Errorf("query %q: %s", query, body)
	}
	return len(r.Data.Result), nil
}

// Rule is a loaded rule's name and its last evaluation's health.
type Rule struct {
	Name, Health, LastError string
}

// Rules returns the rules Prometheus loaded, with their health.
func (p *Prometheus) Rules(ctx context.Context) ([]Rule, error) {
	body, err := p.get(ctx, "/api/v1/rules", nil)
	if err != nil {
		return nil, fmt.Errorf("/api/v1/rules: %w: %s", err, body)
	}
	var r struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("/api/v1/rules: %w", err)
	}
	var out []Rule
	for _, g := range r.Data.Groups {
		for _, rule := range g.Rules {
			out = append(out, Rule{Name: rule.Name, Health: rule.Health, LastError: rule.LastError})
		}
	}
	return out, nil
}
