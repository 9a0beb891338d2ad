package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"egress.io/egress/internal/kubelet"
)

// Pod is a running pod of the environment, with "the app" being its container named app.
type Pod struct {
	*kubelet.Pod
	env *Env
}

// AppContainer is the name of the app container in the pods the test and the demo create.
const AppContainer = "app"

// WrapPod makes a running kubelet pod callable as the app.
func (e *Env) WrapPod(p *kubelet.Pod) *Pod { return &Pod{Pod: p, env: e} }

// Curl runs curl in the pod as the app container's user, trusting the world's test CA for HTTPS it speaks
// itself, and returns its standard output (with -i, headers too) and, when curl fails, an error quoting its
// standard error.
func (p *Pod) Curl(args ...string) (string, error) {
	args = append([]string{"-sS", "--max-time", "5", "--cacert", p.env.World.CAFile}, args...)
	cmd, err := p.Command(AppContainer, "curl", args...)
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("curl %s: %w: %s", strings.Join(args[5:], " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Admin fetches a path of the sidecar's admin server from the node, as a scraper would.
func (p *Pod) Admin(path string) (string, error) {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + PodIP.String() + ":15020" + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(body), err
}

// MetricLines returns the lines of the sidecar's /metrics that start with one of the prefixes.
func (p *Pod) MetricLines(prefixes ...string) (string, error) {
	body, err := p.Admin("/metrics")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, line := range strings.Split(body, "\n") {
		for _, prefix := range prefixes {
			if strings.HasPrefix(line, prefix) {
				b.WriteString(line + "\n")
				break
			}
		}
	}
	return b.String(), nil
}
