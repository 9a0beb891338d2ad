package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"egress.io/egress/internal/cluster"
)

// The kubectl egress story: a team's Deployment observed in audit mode, the rule set kubectl egress suggests
// from what its sidecars saw, applied, then enforced.
const (
	// OrdersNamespace is the namespace of the story's second team.
	OrdersNamespace = "orders"
	// PluginUser is the user the plugin runs as (impersonated): bound to the kubectl-egress ClusterRole in
	// the orders namespace and to egress-ruleset-viewer in the global namespace, nothing else.
	PluginUser = "orders-dev"

	// OrdersObserve puts the orders namespace in audit mode (no other target allows anything yet).
	OrdersObserve = `apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: observe, namespace: orders}
spec:
  mode: Audit
  targets: ["audit.example.test:443"]
`

	// OrdersDeployment is two replicas of an app that waits for calls made with kubectl exec.
	OrdersDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: orders, namespace: orders}
spec:
  replicas: 2
  selector: {matchLabels: {app: orders}}
  template:
    metadata: {labels: {app: orders}}
    spec:
      terminationGracePeriodSeconds: 2
      securityContext: {runAsUser: 1000, runAsGroup: 1000}
      containers:
      - name: app
        image: localhost/egress-e2e/app:1
        command: [sh, -c, 'trap "exit 0" TERM; sleep infinity & wait']
`

	// PluginUserRBAC binds PluginUser as manifests/rbac/kubectl-egress.yaml says to.
	PluginUserRBAC = `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: orders-dev-kubectl-egress, namespace: orders}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubectl-egress}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: ` + PluginUser + `}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: orders-dev-global-rulesets, namespace: ` + SystemNamespace + `}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: egress-ruleset-viewer}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: ` + PluginUser + `}]
`
)

// Plugin is kubectl-egress built into Dir, run by the real kubectl as a plugin found on PATH.
type Plugin struct{ Dir string }

// BuildPlugin builds cmd/kubectl-egress into dir.
func BuildPlugin(ctx context.Context, dir string) (Plugin, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "kubectl-egress"), "./cmd/kubectl-egress")
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return Plugin{}, fmt.Errorf("go build ./cmd/kubectl-egress: %w: %s", err, out)
	}
	return Plugin{Dir: dir}, nil
}

// Run runs `kubectl egress ARGS` as a user would: the real kubectl, the plugin on PATH, the cluster's
// kubeconfig in KUBECONFIG. It returns standard output and standard error; the error quotes the latter.
func (p Plugin) Run(ctx context.Context, c *cluster.Cluster, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, c.KubectlPath(), append([]string{"egress"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+p.Dir+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+c.AdminKubeconfig())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("kubectl egress %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), errOut.String(), nil
}
