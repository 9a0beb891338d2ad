package cluster

// The cluster's addresses (see the package comment).
const (
	PodCIDR             = "198.19.0.0/20"
	PodGateway          = "198.19.0.1"
	ServiceCIDR         = "198.19.128.0/20"
	KubernetesServiceIP = "198.19.128.1"
	DNSServiceIP        = "198.19.128.10"
	NodeCIDR            = "198.19.16.0/24"
	NodeIP              = "198.19.16.1"
	UplinkIP            = "198.18.0.1"
	WorldIP             = "198.18.0.2"
	WorldCIDR           = "198.18.0.0/24"
	ClusterDomain       = "cluster.local"
	NodeName            = "egress-node"
	apiServerPort       = 6443
)

// WorldPublicCIDRs are the world's server addresses (198.18.0.2-198.18.0.7): benchmarking space that the
// sidecar refuses unless --public-cidrs declares it public, as here it stands in for the internet. The
// node's own uplink address 198.18.0.1 is left out.
const WorldPublicCIDRs = "198.18.0.2/31,198.18.0.4/30"

// ClusterCIDRs are the pod, service and node ranges: the webhook's --exclude-outbound-cidrs (and so the
// sidecar's --deny-cidrs) for this cluster.
const ClusterCIDRs = PodCIDR + "," + ServiceCIDR + "," + NodeCIDR
