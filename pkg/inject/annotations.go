package inject

// Annotation, label and value names that drive injection. Operators set the first group; the webhook sets
// AnnotationInjected and the Prometheus annotations.
const (
	// AnnotationInject on a namespace (or the mirrored label LabelInject) enables injection for its pods;
	// on a pod it overrides the namespace ("enabled" or "disabled").
	AnnotationInject = "egress.io/inject"
	// LabelInject is the namespace label the MutatingWebhookConfiguration selects on; the webhook's namespace
	// controller mirrors AnnotationInject to it. On a pod the label works like the annotation and, unlike
	// it, is visible to the webhook configuration's objectSelector.
	LabelInject = "egress.io/inject"
	// AnnotationInjected records that the pod was injected, and by which webhook version.
	AnnotationInjected = "egress.io/injected"
	// LabelInjected ("true") marks an injected pod, for what selects by label: the NetworkPolicy that
	// admits only injected pods to the EgressGateways' tunnel port.
	LabelInjected = "egress.io/injected"
	// AnnotationNativeSidecar set to "false" puts the sidecar in containers instead of running it as a
	// native sidecar (an init container with restartPolicy Always), for clusters older than Kubernetes 1.29.
	AnnotationNativeSidecar = "egress.io/native-sidecar"
	// AnnotationExcludeOutboundCIDRs adds comma-separated CIDRs whose traffic is not redirected to the
	// sidecar (on a pod or its namespace; added to the cluster defaults).
	AnnotationExcludeOutboundCIDRs = "egress.io/exclude-outbound-cidrs"
	// AnnotationExcludeOutboundPorts adds comma-separated destination ports that are not redirected.
	AnnotationExcludeOutboundPorts = "egress.io/exclude-outbound-ports"
	// AnnotationIncludeOutboundCIDRs limits redirection to these comma-separated CIDRs (pod overrides
	// namespace overrides the cluster default).
	AnnotationIncludeOutboundCIDRs = "egress.io/include-outbound-cidrs"

	// ValueEnabled and ValueDisabled are the values of AnnotationInject and LabelInject.
	ValueEnabled  = "enabled"
	ValueDisabled = "disabled"

	// AnnotationPrometheusScrape, AnnotationPrometheusPort and AnnotationPrometheusPath point Prometheus'
	// pod discovery at the sidecar's admin port, unless the pod already sets them for its own metrics.
	AnnotationPrometheusScrape = "prometheus.io/scrape"
	AnnotationPrometheusPort   = "prometheus.io/port"
	AnnotationPrometheusPath   = "prometheus.io/path"
)

// Names of what Inject adds to a pod.
const (
	InitContainerName    = "egress-init"
	SidecarContainerName = "egress-sidecar"
	// PodInfoVolumeName is the downward API volume holding the pod's labels for --pod-labels-file.
	PodInfoVolumeName = "egress-podinfo"
	// TokenVolumeName is the projected service-account token the sidecar gets its policy with (from the
	// policy service, or the API server's watch). It is added even when the pod turns
	// automountServiceAccountToken off, and only the sidecar mounts it.
	TokenVolumeName = "egress-token"
	// PodInfoMountPath and PodLabelsFile are where the sidecar reads the pod's labels.
	PodInfoMountPath = "/etc/egress/podinfo"
	PodLabelsFile    = PodInfoMountPath + "/labels"
	// TokenMountPath is the standard in-cluster service-account directory, so client-go finds it (the direct
	// watch; with the policy service the volume is at sidecar.PolicyCredentialsDir).
	TokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// AdminPortName names the sidecar's admin port (/ready, /live, /metrics).
	AdminPortName = "egress-admin"
)
