package cluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
)

// configData fills the component configuration templates.
type configData struct {
	Runc, CgroupRoot, Sandbox string

	ContainerdSock, CNIConf, CA, KubeletCert, KubeletKey, ResolvConf, ProxyKubeconfig string

	l layout
}

func newConfigData(l layout, runc, cgroupRoot, sandbox string) configData {
	return configData{
		Runc: runc, CgroupRoot: cgroupRoot, Sandbox: sandbox,
		ContainerdSock: l.containerdSock(), CNIConf: l.cniConf(), CA: l.pki("ca.pem"),
		KubeletCert: l.pki("kubelet-serving.pem"), KubeletKey: l.pki("kubelet-serving.key"),
		ResolvConf: l.conf("resolv.conf"), ProxyKubeconfig: l.kubeconfig("kube-proxy"),
		l: l,
	}
}

func (d configData) NodeIP() string        { return NodeIP }
func (d configData) PodCIDR() string       { return PodCIDR }
func (d configData) PodGateway() string    { return PodGateway }
func (d configData) DNSServiceIP() string  { return DNSServiceIP }
func (d configData) ClusterDomain() string { return ClusterDomain }
func (d configData) NodeName() string      { return NodeName }
func (d configData) WorldIP() string       { return WorldIP }

// containerdConfig is containerd's configuration: its state in the node's private /run and /var/lib, its
// socket in the state directory (so the host can import images), Debian's runc and CNI plugins, and the
// sandbox image that is imported, never pulled.
const containerdConfig = `version = 3
root = '/var/lib/containerd'
state = '/run/containerd'

[grpc]
  address = '{{.ContainerdSock}}'

[ttrpc]
  address = '{{.ContainerdSock}}.ttrpc'

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = '{{.Sandbox}}'

  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    # Root here lacks CAP_SYS_RESOURCE, so no process can lower its oom_score_adj; the kubelet asks for
    # negative scores for sandboxes and runc would fail ("failed to update /proc/self/oom_score_adj").
    # Clamp the requested scores to containerd's own instead.
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '{{.Runc}}'
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/usr/lib/cni']
      conf_dir = '{{.CNIConf}}'

  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
`

// kubeletConfig: cgroup v1 with the cgroupfs driver under a cgroup root of the cluster's own; oomScoreAdj 0
// (see containerdConfig); the node's resolv.conf names the world's DNS server, as a node's names its
// network's resolver; images are never garbage collected (they are imported, not pullable); webhook
// authentication and authorisation as in a kubeadm cluster; a short sync period, so that Secret volumes
// (the webhook's rotated certificate) follow their Secret within seconds.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: {{.CgroupRoot}}
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
containerRuntimeEndpoint: unix://{{.ContainerdSock}}
address: {{.NodeIP}}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: {{.KubeletCert}}
tlsPrivateKeyFile: {{.KubeletKey}}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: {{.CA}}}
authorization: {mode: Webhook}
clusterDomain: {{.ClusterDomain}}
clusterDNS: [{{.DNSServiceIP}}]
resolvConf: {{.ResolvConf}}
failSwapOn: false
serializeImagePulls: false
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
rotateCertificates: false
serverTLSBootstrap: false
syncFrequency: 5s
fileCheckFrequency: 60s
nodeStatusUpdateFrequency: 5s
maxPods: 60
oomScoreAdj: 0
`

// kubeProxyConfig: iptables mode in the node's network namespace; conntrack sizes 0 (leave the host-wide
// nf_conntrack_max alone); oomScoreAdj 0.
const kubeProxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: {{.ProxyKubeconfig}}}
hostnameOverride: {{.NodeName}}
bindAddress: {{.NodeIP}}
clusterCIDR: {{.PodCIDR}}
mode: iptables
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
oomScoreAdj: 0
nodePortAddresses: [primary]
`

// cniConfig: one veth per pod, routed by the node (no bridge, so no br_netfilter); no masquerade, so the
// world sees pods' own addresses.
const cniConfig = `{
  "cniVersion": "1.0.0",
  "name": "egress-node",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "mtu": 1500,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "{{.PodCIDR}}", "gateway": "{{.PodGateway}}"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "/var/lib/cni/networks"
      }
    }
  ]
}
`

// resolvConf is the node's resolver: the world's DNS server.
const resolvConf = `nameserver {{.WorldIP}}
`

// writeConfigs renders the component configurations into the state directory.
func writeConfigs(d configData) error {
	if err := os.MkdirAll(d.l.cniConf(), 0o755); err != nil {
		return err
	}
	for path, text := range map[string]string{
		d.l.conf("containerd.toml"):                             containerdConfig,
		d.l.conf("kubelet.yaml"):                                kubeletConfig,
		d.l.conf("kube-proxy.yaml"):                             kubeProxyConfig,
		d.l.conf("resolv.conf"):                                 resolvConf,
		filepath.Join(d.l.cniConf(), "10-egress-node.conflist"): cniConfig,
	} {
		if err := renderFile(path, text, d); err != nil {
			return err
		}
	}
	return nil
}

func renderFile(path, text string, data any) error {
	tmpl, err := template.New(filepath.Base(path)).Option("missingkey=error").Parse(text)
	if err != nil {
		return fmt.Errorf("template for %s: %w", path, err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return fmt.Errorf("template for %s: %w", path, err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
