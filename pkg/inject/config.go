package inject

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/redirect"
	"egress.io/egress/pkg/sidecar"
)

// UnsafePodAction says what happens to a pod whose app containers could bypass interception.
type UnsafePodAction string

const (
	// RejectUnsafePods denies the pod with a message naming each container and why.
	RejectUnsafePods UnsafePodAction = "reject"
	// WarnUnsafePods injects the pod anyway and returns the findings as admission warnings.
	WarnUnsafePods UnsafePodAction = "warn"
)

// maxKubernetesID is the largest UID or GID the API server accepts in a securityContext.
const maxKubernetesID = 1<<31 - 1

// Config holds the cluster-wide injection settings. The webhook's flags set it (Flags); what the injected
// containers are told is built from the containers' own config types, never from strings: egress-init's
// redirect.Config (InitConfig) and the sidecar's sidecar.Settings (SidecarSettings).
type Config struct {
	// Version is recorded in AnnotationInjected.
	Version string
	// InitImage and SidecarImage are the egress-init and egress-sidecar images.
	InitImage    string
	SidecarImage string
	// ImagePullPolicy applies to both images.
	ImagePullPolicy corev1.PullPolicy
	// Init is egress-init's configuration for every pod before the namespace's and the pod's interception
	// annotations are merged in (InitConfig). Its capture and DNS ports are the sidecar's, its
	// SidecarUID and SidecarGID the sidecar's identity, and its ExcludeOutboundCIDRs (the cluster's pod and
	// service CIDRs) are also the sidecar's DenyCIDRs.
	Init redirect.Config
	// Sidecar is the template of every injected sidecar's settings. SidecarSettings fills in what follows
	// from the rest of the configuration: the ports (Init's), the admin address (AdminPort), the deny CIDRs
	// (these plus Init's excluded CIDRs) and the policy source (--kube, the pod's labels file). Everything
	// else set here (--global-namespace, --public-cidrs, --nat64-prefixes) is passed on as it is.
	Sidecar sidecar.Settings
	// AdminPort is the sidecar's admin port (/ready, /live, /metrics), for the probes and the Prometheus
	// annotations.
	AdminPort uint16
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

// DefaultConfig returns the defaults the webhook's flags start from: egress-init's and the sidecar's own
// defaults, and the injection's. Images and excluded CIDRs are cluster-specific and left for the caller.
func DefaultConfig() Config {
	return Config{
		Version:         "dev",
		ImagePullPolicy: corev1.PullIfNotPresent,
		Init:            redirect.DefaultConfig(),
		Sidecar:         sidecar.DefaultSettings(),
		AdminPort:       sidecar.DefaultAdminPort,
		ExcludedNamespaces: []string{
			"kube-system", "kube-public", "kube-node-lease", policy.DefaultGlobalNamespace,
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

// SidecarSettings returns what every injected sidecar is told: the Sidecar template with the ports of
// Init, the admin port on all addresses (the kubelet probes the pod IP), Init's excluded CIDRs added to
// the deny CIDRs (a name that resolves into the cluster is not reached through the sidecar unless a CIDR
// target allows it: no SSRF into the cluster), and the Kubernetes policy source with the pod's labels
// file. The pod's name and namespace come from the downward API (POD_NAME, POD_NAMESPACE).
func (c Config) SidecarSettings() sidecar.Settings {
	s := c.Sidecar
	s.CapturePort, s.DNSPort = c.Init.CapturePort, c.Init.DNSPort
	s.AdminAddr = net.JoinHostPort("", strconv.Itoa(int(c.AdminPort)))
	s.DenyCIDRs = appendNew(slices.Clone(s.DenyCIDRs), c.Init.ExcludeOutboundCIDRs...)
	s.Kube, s.RulesFile = true, ""
	s.PodLabelsFile = PodLabelsFile
	return s
}

// Validate reports every setting that cannot produce a working pod, naming the webhook flag at fault
// (egress-init's and the sidecar's flags keep their names in the webhook, so their own validation names
// them too).
func (c Config) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	if c.Version == "" {
		errs = append(errs, errors.New("version (set at build time): must not be empty"))
	}
	if c.InitImage == "" {
		bad(FlagInitImage, "must not be empty")
	}
	if c.SidecarImage == "" {
		bad(FlagSidecarImage, "must not be empty")
	}
	switch c.ImagePullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		bad(FlagImagePullPolicy, "%q is not Always, IfNotPresent or Never", c.ImagePullPolicy)
	}
	initErr := c.Init.Validate()
	if initErr != nil {
		errs = append(errs, initErr)
	}
	if c.Init.SidecarUID > maxKubernetesID {
		bad(redirect.FlagSidecarUID, "%d is above %d, the largest UID a pod may run as", c.Init.SidecarUID, maxKubernetesID)
	}
	if c.Init.SidecarGID > maxKubernetesID {
		bad(redirect.FlagSidecarGID, "%d is above %d, the largest GID a pod may run as", c.Init.SidecarGID, maxKubernetesID)
	}
	adminErr := false
	switch c.AdminPort {
	case 0:
		bad(FlagAdminPort, "port 0 is out of range 1-65535")
		adminErr = true
	case c.Init.CapturePort, c.Init.DNSPort:
		other := redirect.FlagCapturePort
		if c.AdminPort == c.Init.DNSPort {
			other = redirect.FlagDNSPort
		}
		bad(FlagAdminPort, "%d is also --%s", c.AdminPort, other)
		adminErr = true
	}
	// The sidecar's settings follow from Init and AdminPort; once those are valid, what is left to fail
	// is what the webhook passes on under the sidecar's own flag names.
	if initErr == nil && !adminErr {
		if err := c.SidecarSettings().Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.UnsafePods {
	case RejectUnsafePods, WarnUnsafePods:
	default:
		bad(FlagUnsafePods, "%q is not %s or %s", c.UnsafePods, RejectUnsafePods, WarnUnsafePods)
	}
	if c.TokenExpirationSeconds < 600 {
		errs = append(errs, fmt.Errorf("token expiration: %ds is under the API server's minimum of 600s", c.TokenExpirationSeconds))
	}
	return errors.Join(errs...)
}
