// Package cluster runs a real single-node Kubernetes cluster on this machine for the end-to-end test, the
// demo and `make cluster-up`: etcd, kube-apiserver, containerd with Debian's runc and CNI plugins, the
// kubelet, kube-proxy, kube-controller-manager and kube-scheduler, all built from their Go modules
// (hack/build-node.sh, EGRESS_NODE_ASSETS), and CoreDNS as cluster DNS, run as a Deployment as in any
// cluster. Images are imported into containerd from OCI tarballs; nothing is ever pulled.
//
// Isolation: the node lives in network, PID and mount namespaces of its own. Its first process (the agent,
// this package re-executing the calling binary: call Main first in main or TestMain) mounts a private /run,
// /var/lib and /var/log over the state directory, starts every component, reaps what they leave and proxies
// a loopback port of the host to the API server, which is how the host reaches the cluster (the host gets no
// interface, route or address). Killing the agent kills the whole node; its mounts go with its mount
// namespace. A "world" network namespace behind the node stands in for the internet: nginx (HTTP, and HTTPS
// for the world's names with certificates of the world's own CA) and an authoritative DNS server, at
// 198.18.0.2, routed from the pods with no address translation, with a counter of the TCP connections that
// reach it.
//
// Addresses, all in 198.18.0.0/15:
//
//	198.19.0.0/20    pods (CNI ptp: a routed veth per pod, no bridge)
//	198.19.128.0/20  services (kubernetes 198.19.128.1, cluster DNS 198.19.128.10)
//	198.19.16.1      the node (kube-apiserver :6443, kubelet :10250)
//	198.18.0.1       the node's link to the world; the world is 198.18.0.2 (its servers 198.18.0.2-7)
//
// Machine-specific settings (found by the spike in shared/realnode-spike, NOTE.md): the kubelet runs on
// cgroup v1 (failCgroupV1: false, cgroupfs driver, a cgroup root of its own created in every hierarchy under
// the caller's memory cgroup); nothing here can lower an OOM score (root lacks CAP_SYS_RESOURCE), so the
// kubelet and kube-proxy keep oomScoreAdj 0 and containerd clamps the scores it is asked for; the kubelet
// runs in a mount namespace of its own where the kernel tunables it would set host-wide are files bound over
// /proc/sys; kube-proxy leaves the global conntrack sizes alone.
//
// Teardown (Stop, `make cluster-down`) kills the agent and removes the namespaces, cgroups and state
// directory. A cluster whose owner died without tearing it down (a test killed by SIGKILL) is swept by the
// next Start: what it left is found by name and removed when no process of it is alive.
package cluster
