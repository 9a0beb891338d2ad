package inject

import (
	"errors"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"egress.io/egress/pkg/redirect"
	"egress.io/egress/pkg/sidecar/addrclass"
)

// UnsafePodAction says what happens to a pod whose app containers could bypass interception.
type UnsafePodAction string

const (
	// RejectUnsafePods denies the pod with a message naming each container and why.
	RejectUnsafePods UnsafePodAction = "reject"
	// WarnUnsafePods injects the pod anyway and returns the findings as admission warnings.
	WarnUnsafePods UnsafePodAction = "warn"
)

// Config holds the cluster defaults for injection. The webhook builds it from its flags.
type Config struct {
	// Version is recorded in AnnotationInjected.
	Version string
	// InitImage and SidecarImage are the egress-init and egress-sidecar images.
	InitImage    string
	SidecarImage string
	// ImagePullPolicy applies to both images.
	ImagePullPolicy corev1.PullPolicy
	// SidecarUID and SidecarGID are the sidecar's identity; egress-init exempts it from redirection.
	SidecarUID int64
	SidecarGID int64
	// CapturePort, DNSPort and AdminPort are the sidecar's ports (admin serves /ready, /live, /metrics).
	CapturePort int32
	DNSPort     int32
	AdminPort   int32
	// ExcludeOutboundCIDRs (the cluster's pod and service CIDRs) and ExcludeOutboundPorts are never
	// redirected; namespace and pod annotations add to them.
	ExcludeOutboundCIDRs []netip.Prefix
	ExcludeOutboundPorts []redirect.PortRange
	// IncludeOutboundCIDRs, when set, limits redirection to these CIDRs; annotations override it.
	IncludeOutboundCIDRs []netip.Prefix
	// PublicCIDRs and NAT64Prefixes are the sidecar's --public-cidrs and --nat64-prefixes (see package
	// addrclass); empty leaves the sidecar's defaults.
	PublicCIDRs   []netip.Prefix
	NAT64Prefixes []netip.Prefix
	// IPv6 is egress-init's --ipv6 (auto, on or off); DropUDP its --drop-udp.
	IPv6    string
	DropUDP bool
	// GlobalNamespace holds rule sets that apply to every injected pod (the sidecar's --global-namespace).
	GlobalNamespace string
	// ExcludedNamespaces are never injected, whatever their annotations say (kube-system, the webhook's own).
	ExcludedNamespaces []string
	// UnsafePods says whether pods that could bypass interception are rejected or only warned about.
	UnsafePods UnsafePodAction
	// InitResources and SidecarResources are the containers' requests and limits.
	InitResources    corev1.ResourceRequirements
	SidecarResources corev1.ResourceRequirements
	// TokenExpirationSeconds is the lifetime of the sidecar's projected service-account token.
	TokenExpirationSeconds int64
}

// DefaultConfig returns the defaults the webhook's flags start from. Images and excluded CIDRs are
// cluster-specific and left for the caller.
func DefaultConfig() Config {
	return Config{
		Version:         "dev",
		ImagePullPolicy: corev1.PullIfNotPresent,
		SidecarUID:      2555,
		SidecarGID:      2555,
		CapturePort:     15001,
		DNSPort:         15053,
		AdminPort:       15020,
		IPv6:            "auto",
		DropUDP:         true,
		GlobalNamespace: "egress-system",
		ExcludedNamespaces: []string{
			"kube-system", "kube-public", "kube-node-lease", "egress-system",
		},
		UnsafePods: RejectUnsafePods,
		InitResources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("10m"),
				corev1.ResourceMemory: resource.MustParse("16Mi"),
			},
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		SidecarResources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("20m"),
				corev1.ResourceMemory: resource.MustParse("32Mi"),
			},
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		},
		TokenExpirationSeconds: 3607,
	}
}

// Validate reports every field that cannot produce a working pod, naming the field.
func (c Config) Validate() error {
	var errs []error
	if c.Version == "" {
		errs = append(errs, errors.New("Version: must not be empty"))
	}
	if c.InitImage == "" {
		errs = append(errs, errors.New("InitImage: must not be empty"))
	}
	if c.SidecarImage == "" {
		errs = append(errs, errors.New("SidecarImage: must not be empty"))
	}
	switch c.ImagePullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, fmt.Errorf("ImagePullPolicy: %q is not Always, IfNotPresent or Never", c.ImagePullPolicy))
	}
	if c.SidecarUID <= 0 || c.SidecarUID > 1<<31-1 {
		errs = append(errs, fmt.Errorf("SidecarUID: %d must be a non-root UID (1 to 2147483647)", c.SidecarUID))
	}
	if c.SidecarGID <= 0 || c.SidecarGID > 1<<31-1 {
		errs = append(errs, fmt.Errorf("SidecarGID: %d must be a non-root GID (1 to 2147483647)", c.SidecarGID))
	}
	ports := map[string]int32{"CapturePort": c.CapturePort, "DNSPort": c.DNSPort, "AdminPort": c.AdminPort}
	seen := map[int32]string{}
	for _, name := range []string{"CapturePort", "DNSPort", "AdminPort"} {
		p := ports[name]
		if p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s: %d is not a port (1 to 65535)", name, p))
			continue
		}
		if other, dup := seen[p]; dup {
			errs = append(errs, fmt.Errorf("%s: %d is also %s", name, p, other))
		}
		seen[p] = name
	}
	switch c.IPv6 {
	case "auto", "on", "off":
	default:
		errs = append(errs, fmt.Errorf("IPv6: %q is not auto, on or off", c.IPv6))
	}
	if c.GlobalNamespace == "" {
		errs = append(errs, errors.New("GlobalNamespace: must not be empty"))
	}
	if _, err := addrclass.New(addrclass.Config{Public: c.PublicCIDRs}); err != nil {
		errs = append(errs, fmt.Errorf("PublicCIDRs: %w", err))
	}
	if len(c.NAT64Prefixes) > 0 {
		if _, err := addrclass.New(addrclass.Config{NAT64: c.NAT64Prefixes}); err != nil {
			errs = append(errs, fmt.Errorf("NAT64Prefixes: %w", err))
		}
	}
	switch c.UnsafePods {
	case RejectUnsafePods, WarnUnsafePods:
	default:
		errs = append(errs, fmt.Errorf("UnsafePods: %q is not %q or %q", c.UnsafePods, RejectUnsafePods, WarnUnsafePods))
	}
	if c.TokenExpirationSeconds < 600 {
		errs = append(errs, fmt.Errorf("TokenExpirationSeconds: %d is under the API server's minimum of 600", c.TokenExpirationSeconds))
	}
	return errors.Join(errs...)
}
