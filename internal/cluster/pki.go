package cluster

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"egress.io/egress/internal/certs"
)

// identities are the client certificates of the cluster: a kubeconfig each, by file name, with the user and
// groups the API server sees (the bootstrap RBAC roles of a kubeadm cluster bind these names).
var identities = []struct {
	name, user string
	groups     []string
}{
	{"admin", "admin", []string{"system:masters"}},
	{"kubelet", "system:node:" + NodeName, []string{"system:nodes"}},
	{"kube-controller-manager", "system:kube-controller-manager", nil},
	{"kube-scheduler", "system:kube-scheduler", nil},
	{"kube-proxy", "system:kube-proxy", nil},
}

// writePKI makes the cluster's CA, the API server's and the kubelet's serving certificates, a client
// certificate and kubeconfig per identity, the API server's client certificate for the kubelet, and the
// service-account signing key. The admin kubeconfig reaches the API server at hostPort on the host's
// loopback; the others at the node's address.
func writePKI(l layout, hostPort int) error {
	for _, dir := range []string{l.path("pki"), l.path("conf")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	dir := l.path("pki")
	ca, err := certs.NewCA(dir, "egress-node CA", 7*24*time.Hour)
	if err != nil {
		return err
	}
	if _, err := ca.Server(dir, "apiserver", NodeIP, KubernetesServiceIP, "127.0.0.1", "localhost", "kubernetes",
		"kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc."+ClusterDomain); err != nil {
		return err
	}
	if _, err := ca.Server(dir, "kubelet-serving", NodeIP, NodeName); err != nil {
		return err
	}
	if _, err := ca.Client(dir, "apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"); err != nil {
		return err
	}
	if _, _, err := certs.SigningKey(dir, "sa"); err != nil {
		return err
	}
	for _, id := range identities {
		kp, err := ca.Client(dir, id.name, id.user, id.groups...)
		if err != nil {
			return err
		}
		server := "https://" + NodeIP + ":" + strconv.Itoa(apiServerPort)
		if id.name == "admin" {
			server = "https://127.0.0.1:" + strconv.Itoa(hostPort)
		}
		if err := writeKubeconfig(l.kubeconfig(id.name), server, ca.PEM, kp); err != nil {
			return err
		}
	}
	return nil
}

// writeKubeconfig writes a kubeconfig with everything embedded, so it can be copied anywhere.
func writeKubeconfig(path, server string, caPEM []byte, kp certs.KeyPair) error {
	cert, err := os.ReadFile(kp.Cert)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(kp.Key)
	if err != nil {
		return err
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters[NodeName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	kc.Contexts[NodeName] = &clientcmdapi.Context{Cluster: NodeName, AuthInfo: "user"}
	kc.CurrentContext = NodeName
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}
