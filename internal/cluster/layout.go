package cluster

import "path/filepath"

// layout names the files of a cluster's state directory.
type layout struct{ dir string }

func (l layout) path(parts ...string) string {
	return filepath.Join(append([]string{l.dir}, parts...)...)
}

func (l layout) agentConfig() string       { return l.path("agent.json") }
func (l layout) agentPID() string          { return l.path("agent.pid") }
func (l layout) owner() string             { return l.path("owner") }
func (l layout) cgroups() string           { return l.path("cgroups") }
func (l layout) logs() string              { return l.path("logs") }
func (l layout) log(name string) string    { return l.path("logs", name+".log") }
func (l layout) pki(name string) string    { return l.path("pki", name) }
func (l layout) conf(name string) string   { return l.path("conf", name) }
func (l layout) cniConf() string           { return l.path("conf", "cni") }
func (l layout) varLib() string            { return l.path("var-lib") }
func (l layout) varLog() string            { return l.path("var-log") }
func (l layout) containerdSock() string    { return l.path("containerd.sock") }
func (l layout) world(name string) string  { return l.path("world", name) }
func (l layout) sysctl(name string) string { return l.path("sysctl", name) }

// kubeconfig is the kubeconfig file of a component (admin, admin-node, kubelet, ...).
func (l layout) kubeconfig(name string) string { return l.path("conf", name+".kubeconfig") }

// AdminKubeconfig is the kubeconfig of the cluster's administrator (system:masters), reaching the API server
// through the host's loopback port.
func (c *Cluster) AdminKubeconfig() string { return c.layout.kubeconfig("admin") }
