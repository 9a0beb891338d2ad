package inject

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"egress.io/egress/pkg/redirect"
	"egress.io/egress/pkg/settings"
	"egress.io/egress/pkg/sidecar"
)

// Names of the webhook's injection flags that are neither egress-init's nor the sidecar's.
const (
	FlagInitImage             = "init-image"
	FlagSidecarImage          = "sidecar-image"
	FlagImagePullPolicy       = "image-pull-policy"
	FlagAdminPort             = "admin-port"
	FlagExcludedNamespaces    = "excluded-namespaces"
	FlagUnsafePods            = "unsafe-pods"
	FlagSidecarCPURequest     = "sidecar-cpu-request"
	FlagSidecarMemoryRequest  = "sidecar-memory-request"
	FlagSidecarMemoryLimit    = "sidecar-memory-limit"
	FlagPolicySource          = "policy-source"
	FlagPolicyTokenExpiration = "policy-token-expiration"
)

// SidecarFlags are the sidecar's flags the webhook takes as its own, under the same names, and passes on
// to every injected sidecar (Config.Sidecar). A sidecar setting the cluster's operator should choose is
// one more name here.
var SidecarFlags = []string{sidecar.FlagGlobalNamespace, sidecar.FlagPolicyService, sidecar.FlagPublicCIDRs, sidecar.FlagNAT64Prefixes}

// Flags is the table of the webhook's injection flags, bound to c's fields: the images, egress-init's own
// flags (its table, bound to c.Init), the sidecar's SidecarFlags (its table, bound to c.Sidecar), then
// what only the webhook decides.
func (c *Config) Flags() []settings.Flag {
	flags := []settings.Flag{
		{Name: FlagInitImage, Value: settings.String(&c.InitImage, "IMAGE"),
			Usage: "egress-init image injected into pods (required)."},
		{Name: FlagSidecarImage, Value: settings.String(&c.SidecarImage, "IMAGE"),
			Usage: "egress-sidecar image injected into pods (required)."},
		{Name: FlagImagePullPolicy, Value: settings.OneOf(&c.ImagePullPolicy, corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever),
			Usage: "Pull policy of both injected containers."},
	}
	for _, f := range c.Init.Flags() {
		f.Usage = "egress-init's `--" + f.Name + "`" + initFlagAlso[f.Name] + ": " + f.Usage
		flags = append(flags, f)
	}
	for _, f := range settings.Select(c.Sidecar.Flags(), SidecarFlags...) {
		f.Usage = "egress-sidecar's `--" + f.Name + "`: " + f.Usage
		flags = append(flags, f)
	}
	return append(flags,
		settings.Flag{Name: FlagPolicySource, Value: settings.OneOf(&c.PolicySource, PolicyFromService, PolicyFromKube),
			Usage: "Where injected sidecars get their rule sets: `service` (streamed from the policy service, " +
				"authenticated by the pod's token; pods need no RBAC) or `kube` (each sidecar watches the API " +
				"server; the webhook keeps RoleBindings that let the namespace read them). A namespace's `" +
				AnnotationPolicySource + "` annotation overrides it."},
		settings.Flag{Name: FlagPolicyTokenExpiration, Value: settings.Duration(&c.PolicyTokenExpiration),
			Usage: "Lifetime of the projected token (audience `" + sidecar.PolicyAudience + "`) a sidecar presents to " +
				"the policy service; the kubelet refreshes it at 80%, and the sidecar reconnects with the new one " +
				"when the old one expires. At least 10m."},
		settings.Flag{Name: FlagAdminPort, Value: settings.Port(&c.AdminPort),
			Usage: "The sidecar's admin port (`/ready`, `/live`, `/metrics`), on all addresses; the probes and the " +
				"Prometheus annotations use it."},
		settings.Flag{Name: FlagExcludedNamespaces, Value: settings.Strings(&c.ExcludedNamespaces, "NAMES"), DefaultText: "none",
			Usage: "Comma-separated namespaces never injected, whatever their annotations say."},
		settings.Flag{Name: FlagUnsafePods, Value: settings.OneOf(&c.UnsafePods, RejectUnsafePods, WarnUnsafePods),
			Usage: "What to do with pods whose containers could bypass interception: `reject` them, or inject them and `warn`."},
		settings.Flag{Name: FlagSidecarCPURequest, Value: quantity(c.SidecarResources.Requests, corev1.ResourceCPU),
			Usage: "The sidecar's CPU request."},
		settings.Flag{Name: FlagSidecarMemoryRequest, Value: quantity(c.SidecarResources.Requests, corev1.ResourceMemory),
			Usage: "The sidecar's memory request."},
		settings.Flag{Name: FlagSidecarMemoryLimit, Value: quantity(c.SidecarResources.Limits, corev1.ResourceMemory),
			Usage: "The sidecar's memory limit."},
	)
}

// initFlagAlso says where else the webhook uses an egress-init setting.
var initFlagAlso = map[string]string{
	redirect.FlagCapturePort:          " and the sidecar's",
	redirect.FlagDNSPort:              " and the sidecar's",
	redirect.FlagSidecarUID:           " and the sidecar's `runAsUser`",
	redirect.FlagSidecarGID:           " and the sidecar's `runAsGroup`",
	redirect.FlagExcludeOutboundCIDRs: " and the sidecar's `--deny-cidrs`",
}

// quantity binds the quantity of resource name in list, a Kubernetes quantity such as 20m or 32Mi.
func quantity(list corev1.ResourceList, name corev1.ResourceName) settings.Value {
	return settings.Func("QUANTITY", func() string {
		q := list[name]
		return q.String()
	}, func(s string) error {
		q, err := resource.ParseQuantity(s)
		if err != nil {
			return fmt.Errorf("%q is not a quantity such as 20m or 64Mi: %w", s, err)
		}
		list[name] = q
		return nil
	})
}
