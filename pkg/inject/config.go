package inject

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

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
	// (these plus Init's excluded CIDRs) and the policy source (--policy-service or --kube, the pod's labels
	// file). Everything else set here (--global-namespace, --policy-service's URL, --public-cidrs,
	// --nat64-prefixes) is passed on as it is.
	Sidecar sidecar.Settings
	// PolicySource is where sidecars get their rule sets, unless their namespace's AnnotationPolicySource
	// says otherwise (--policy-source).
	PolicySource PolicySource
	// PolicyTokenExpiration is the lifetime of the token a sidecar presents to the policy service; the
	// kubelet refreshes it at 80%, and a stream ends (the sidecar reconnects) when the token it was opened
	// with expires (--policy-token-expiration).
	PolicyTokenExpiration time.Duration
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
	// TokenExpirationSeconds is the lifetime of the sidecar's projected service-account token with the
	// direct watch (PolicyFromKube): the API server's default for kube-api-access volumes.
	TokenExpirationSeconds int64
}

// DefaultConfig returns the defaults the webhook's flags start from: egress-init's and the sidecar's own
// defaults, and the injection's. Images and excluded CIDRs are cluster-specific and left for the caller.
func DefaultConfig() Config {
	return Config{
		Version:         "dev",
		ImagePullPolicy: corev1.PullIfNotPresent,
		Init:            redirect.DefaultConfig(),
		Sidecar:         defaultSidecar(),
		PolicySource:    PolicyFromService,
		// An hour: a sidecar reconnects (with its version, so cheaply) about once an hour, and the service
		// makes one TokenReview per reconnect.
		PolicyTokenExpiration: time.Hour,
		AdminPort:             sidecar.DefaultAdminPort,
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

// DefaultPolicyServiceURL is where injected sidecars find the policy service: the Service egress-policy in
// the product's namespace (manifests/webhook/policy-service.yaml).
const DefaultPolicyServiceURL = "https://egress-policy." + policy.DefaultGlobalNamespace + ".svc"

// defaultSidecar is the sidecar's defaults with the policy service's URL.
func defaultSidecar() sidecar.Settings {
	s := sidecar.DefaultSettings()
	s.PolicyService = DefaultPolicyServiceURL
	return s
}

// SidecarSettings returns what an injected sidecar is told with the webhook's own --policy-source
// (SidecarSettingsFor).
func (c Config) SidecarSettings() sidecar.Settings { return c.SidecarSettingsFor(c.PolicySource) }

// SidecarSettingsFor returns what every injected sidecar with policy source src is told: the Sidecar
// template with the ports of Init, the admin port on all addresses (the kubelet probes the pod IP),
// Init's excluded CIDRs added to the deny CIDRs (a name that resolves into the cluster is not reached
// through the sidecar unless a CIDR target allows it: no SSRF into the cluster), the pod's labels file, and
// the policy source: the policy service (its token and CA where the token volume puts them, the
// sidecar's defaults) or the Kubernetes watch. The pod's name and namespace come from the downward API
// (POD_NAME, POD_NAMESPACE).
func (c Config) SidecarSettingsFor(src PolicySource) sidecar.Settings {
	s := c.Sidecar
	s.CapturePort, s.DNSPort = c.Init.CapturePort, c.Init.DNSPort
	s.AdminAddr = net.JoinHostPort("", strconv.Itoa(int(c.AdminPort)))
	s.DenyCIDRs = appendNew(slices.Clone(s.DenyCIDRs), c.Init.ExcludeOutboundCIDRs...)
	s.RulesFile, s.Kubeconfig = "", ""
	s.PolicyTokenFile, s.PolicyCAFile = sidecar.DefaultPolicyTokenFile, sidecar.DefaultPolicyCAFile
	if src == PolicyFromKube {
		s.Kube, s.PolicyService = true, ""
	} else {
		s.Kube = false
	}
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
	// Every namespace may choose the policy service by annotation, so its settings are checked whatever
	// --policy-source says.
	if initErr == nil && !adminErr {
		check := c.SidecarSettingsFor(PolicyFromService)
		if c.Sidecar.PolicyService == "" {
			bad(sidecar.FlagPolicyService, "must not be empty: it is where sidecars find the policy service")
			check = c.SidecarSettingsFor(PolicyFromKube)
		}
		if err := check.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.PolicySource {
	case PolicyFromService, PolicyFromKube:
	default:
		bad(FlagPolicySource, "%q is not %s or %s", c.PolicySource, PolicyFromService, PolicyFromKube)
	}
	if c.PolicyTokenExpiration < 10*time.Minute {
		bad(FlagPolicyTokenExpiration, "%v is under the API server's minimum of 10m", c.PolicyTokenExpiration)
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
