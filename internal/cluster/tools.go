package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Kubectl runs the real kubectl as the cluster's administrator, with stdin (may be ""), and returns its
// standard output; the error quotes its standard error.
func (c *Cluster) Kubectl(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.KubectlPath(), append([]string{"--kubeconfig=" + c.AdminKubeconfig()}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// KubectlPath is the kubectl binary of the assets.
func (c *Cluster) KubectlPath() string { return filepath.Join(c.Assets, "kubectl") }

// ctr runs containerd's ctr against the node's containerd, in the Kubernetes namespace.
func (c *Cluster) ctr(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.Assets, "ctr"), append([]string{"--address", c.layout.containerdSock(), "-n", "k8s.io"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ImportImages imports OCI image tarballs into the node's containerd, where the kubelet finds them.
func (c *Cluster) ImportImages(ctx context.Context, paths ...string) error {
	for _, p := range paths {
		if _, err := c.ctr(ctx, "images", "import", p); err != nil {
			return err
		}
	}
	return nil
}

// KillContainer kills a container with SIGKILL, as the kernel's OOM killer or a crash would; containerID is a
// pod status' containerID (containerd://ID) or the bare ID. The kubelet sees it exit and acts on its
// restart policy.
func (c *Cluster) KillContainer(ctx context.Context, containerID string) error {
	id := strings.TrimPrefix(containerID, "containerd://")
	_, err := c.ctr(ctx, "tasks", "kill", "--signal", "SIGKILL", id)
	return err
}
