// Command coredns is CoreDNS built from its Go module with the plugins of a cluster's default Corefile
// (kubeadm's: errors, health, ready, kubernetes, prometheus, forward, cache, loop, reload, loadbalance) plus
// log and hosts, instead of every plugin (the cloud DNS plugins alone triple the build). It is the cluster DNS
// of the local node (internal/cluster), run as a Deployment as in a real cluster.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() { coremain.Run() }
