package webhook

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"egress.io/egress/pkg/inject"
	"egress.io/egress/pkg/redirect"
)

// Config is everything the webhook process is told on its command line.
type Config struct {
	// Injection defaults (see inject.Config).
	InitImage            string
	SidecarImage         string
	ImagePullPolicy      string
	SidecarUID           int64
	SidecarGID           int64
	CapturePort          int
	DNSPort              int
	AdminPort            int
	ExcludeOutboundCIDRs string
	ExcludeOutboundPorts string
	IncludeOutboundCIDRs string
	PublicCIDRs          string
	NAT64Prefixes        string
	IPv6                 string
	DropUDP              bool
	GlobalNamespace      string
	ExcludedNamespaces   string
	UnsafePods           string
	SidecarCPURequest    string
	SidecarMemoryRequest string
	SidecarMemoryLimit   string

	// Serving.
	WebhookHost string
	WebhookPort int
	CertDir     string
	// StaticCerts serves tls.crt and tls.key from CertDir as they are: no rotation, no Secret, no caBundle
	// updates (for running the webhook as a local process, or with certificates managed elsewhere).
	StaticCerts       bool
	CertSecretName    string
	WebhookConfigName string
	ServiceName       string
	ServiceNamespace  string
	MetricsAddr       string
	ProbeAddr         string
	LeaderElection    bool
	LeaderElectionID  string

	// Version is recorded on injected pods (set by main, not a flag).
	Version string
}

// DefaultConfig returns the flag defaults.
func DefaultConfig() Config {
	d := inject.DefaultConfig()
	return Config{
		ImagePullPolicy:      string(d.ImagePullPolicy),
		SidecarUID:           d.SidecarUID,
		SidecarGID:           d.SidecarGID,
		CapturePort:          int(d.CapturePort),
		DNSPort:              int(d.DNSPort),
		AdminPort:            int(d.AdminPort),
		IPv6:                 d.IPv6,
		DropUDP:              d.DropUDP,
		GlobalNamespace:      d.GlobalNamespace,
		ExcludedNamespaces:   strings.Join(d.ExcludedNamespaces, ","),
		UnsafePods:           string(d.UnsafePods),
		SidecarCPURequest:    d.SidecarResources.Requests.Cpu().String(),
		SidecarMemoryRequest: d.SidecarResources.Requests.Memory().String(),
		SidecarMemoryLimit:   d.SidecarResources.Limits.Memory().String(),
		WebhookPort:          9443,
		CertDir:              "/certs",
		CertSecretName:       "egress-webhook-certs",
		WebhookConfigName:    "egress-webhook",
		ServiceName:          "egress-webhook",
		ServiceNamespace:     "egress-system",
		MetricsAddr:          ":8080",
		ProbeAddr:            ":8081",
		LeaderElection:       true,
		LeaderElectionID:     "egress-webhook-controllers",
		Version:              "dev",
	}
}

// BindFlags registers every flag on fs with c's current values as defaults.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.InitImage, "init-image", c.InitImage, "egress-init image injected into pods (required)")
	fs.StringVar(&c.SidecarImage, "sidecar-image", c.SidecarImage, "egress-sidecar image injected into pods (required)")
	fs.StringVar(&c.ImagePullPolicy, "image-pull-policy", c.ImagePullPolicy, "pull policy of the injected containers: Always, IfNotPresent or Never")
	fs.Int64Var(&c.SidecarUID, "sidecar-uid", c.SidecarUID, "UID the sidecar runs as; egress-init exempts it from redirection")
	fs.Int64Var(&c.SidecarGID, "sidecar-gid", c.SidecarGID, "GID the sidecar runs as")
	fs.IntVar(&c.CapturePort, "capture-port", c.CapturePort, "sidecar port that redirected TCP connections reach")
	fs.IntVar(&c.DNSPort, "dns-port", c.DNSPort, "sidecar DNS proxy port")
	fs.IntVar(&c.AdminPort, "admin-port", c.AdminPort, "sidecar admin port (/ready, /live, /metrics); probes and Prometheus annotations use it")
	fs.StringVar(&c.ExcludeOutboundCIDRs, "exclude-outbound-cidrs", c.ExcludeOutboundCIDRs, "comma-separated CIDRs never redirected: set the cluster's pod and service CIDRs")
	fs.StringVar(&c.ExcludeOutboundPorts, "exclude-outbound-ports", c.ExcludeOutboundPorts, "comma-separated destination ports or ranges (8000-8100) never redirected")
	fs.StringVar(&c.IncludeOutboundCIDRs, "include-outbound-cidrs", c.IncludeOutboundCIDRs, "comma-separated CIDRs to redirect (empty: all)")
	fs.StringVar(&c.PublicCIDRs, "public-cidrs", c.PublicCIDRs, "sidecar --public-cidrs: comma-separated special-purpose CIDRs that resolved names may reach like the internet")
	fs.StringVar(&c.NAT64Prefixes, "nat64-prefixes", c.NAT64Prefixes, "sidecar --nat64-prefixes: comma-separated NAT64 prefixes of the cluster's DNS64 (empty: the sidecar's default, 64:ff9b::/96)")
	fs.StringVar(&c.IPv6, "ipv6", c.IPv6, "egress-init --ipv6: auto, on or off")
	fs.BoolVar(&c.DropUDP, "drop-udp", c.DropUDP, "egress-init --drop-udp: drop outbound UDP other than DNS")
	fs.StringVar(&c.GlobalNamespace, "global-namespace", c.GlobalNamespace, "namespace whose EgressRuleSets apply to every injected pod")
	fs.StringVar(&c.ExcludedNamespaces, "excluded-namespaces", c.ExcludedNamespaces, "comma-separated namespaces never injected")
	fs.StringVar(&c.UnsafePods, "unsafe-pods", c.UnsafePods, "what to do with pods whose containers could bypass interception: reject or warn")
	fs.StringVar(&c.SidecarCPURequest, "sidecar-cpu-request", c.SidecarCPURequest, "sidecar CPU request")
	fs.StringVar(&c.SidecarMemoryRequest, "sidecar-memory-request", c.SidecarMemoryRequest, "sidecar memory request")
	fs.StringVar(&c.SidecarMemoryLimit, "sidecar-memory-limit", c.SidecarMemoryLimit, "sidecar memory limit")
	fs.StringVar(&c.WebhookHost, "webhook-host", c.WebhookHost, "address the webhook server listens on (empty: all)")
	fs.IntVar(&c.WebhookPort, "webhook-port", c.WebhookPort, "port the webhook server listens on")
	fs.StringVar(&c.CertDir, "cert-dir", c.CertDir, "directory with the serving certificate tls.crt and key tls.key (the mounted Secret when rotating)")
	fs.BoolVar(&c.StaticCerts, "static-certs", c.StaticCerts, "serve the certificate in --cert-dir as it is: no rotation, no Secret, no caBundle updates")
	fs.StringVar(&c.CertSecretName, "cert-secret", c.CertSecretName, "Secret (in --service-namespace) holding the rotated CA and serving certificate")
	fs.StringVar(&c.WebhookConfigName, "webhook-config", c.WebhookConfigName, "MutatingWebhookConfiguration whose caBundle is kept in sync")
	fs.StringVar(&c.ServiceName, "service-name", c.ServiceName, "Service in front of the webhook (the certificate's DNS name)")
	fs.StringVar(&c.ServiceNamespace, "service-namespace", c.ServiceNamespace, "namespace of the Service, the Secret and the leader-election lease")
	fs.StringVar(&c.MetricsAddr, "metrics-bind-address", c.MetricsAddr, "address of the metrics endpoint (0 disables it)")
	fs.StringVar(&c.ProbeAddr, "health-probe-bind-address", c.ProbeAddr, "address of /healthz and /readyz")
	fs.BoolVar(&c.LeaderElection, "leader-elect", c.LeaderElection, "run the controllers in one replica at a time (the webhook serves in all)")
	fs.StringVar(&c.LeaderElectionID, "leader-election-id", c.LeaderElectionID, "name of the leader-election Lease")
}

// Validate reports every invalid flag, naming it.
func (c Config) Validate() error {
	_, err := c.InjectConfig()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if c.WebhookPort < 1 || c.WebhookPort > 65535 {
		errs = append(errs, fmt.Errorf("--webhook-port: %d is not a port (1 to 65535)", c.WebhookPort))
	}
	if c.CertDir == "" {
		errs = append(errs, errors.New("--cert-dir: must not be empty"))
	}
	for _, name := range []struct{ flag, value string }{
		{"--webhook-config", c.WebhookConfigName}, {"--service-name", c.ServiceName},
		{"--cert-secret", c.CertSecretName}, {"--leader-election-id", c.LeaderElectionID},
	} {
		if msgs := validation.IsDNS1123Subdomain(name.value); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s: %q: %s", name.flag, name.value, strings.Join(msgs, "; ")))
		}
	}
	if msgs := validation.IsDNS1123Label(c.ServiceNamespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--service-namespace: %q: %s", c.ServiceNamespace, strings.Join(msgs, "; ")))
	}
	return errors.Join(errs...)
}

// InjectConfig converts the injection flags into an inject.Config, naming the flag of anything invalid.
func (c Config) InjectConfig() (inject.Config, error) {
	cfg := inject.DefaultConfig()
	var errs []error
	cfg.Version = c.Version
	cfg.InitImage = c.InitImage
	cfg.SidecarImage = c.SidecarImage
	cfg.ImagePullPolicy = corev1.PullPolicy(c.ImagePullPolicy)
	cfg.SidecarUID, cfg.SidecarGID = c.SidecarUID, c.SidecarGID
	cfg.CapturePort, cfg.DNSPort, cfg.AdminPort = int32(c.CapturePort), int32(c.DNSPort), int32(c.AdminPort)
	var err error
	if cfg.ExcludeOutboundCIDRs, err = redirect.ParseCIDRList(c.ExcludeOutboundCIDRs); err != nil {
		errs = append(errs, fmt.Errorf("--exclude-outbound-cidrs: %w", err))
	}
	if cfg.ExcludeOutboundPorts, err = redirect.ParsePortList(c.ExcludeOutboundPorts); err != nil {
		errs = append(errs, fmt.Errorf("--exclude-outbound-ports: %w", err))
	}
	if cfg.IncludeOutboundCIDRs, err = redirect.ParseCIDRList(c.IncludeOutboundCIDRs); err != nil {
		errs = append(errs, fmt.Errorf("--include-outbound-cidrs: %w", err))
	}
	if cfg.PublicCIDRs, err = redirect.ParseCIDRList(c.PublicCIDRs); err != nil {
		errs = append(errs, fmt.Errorf("--public-cidrs: %w", err))
	}
	if cfg.NAT64Prefixes, err = redirect.ParseCIDRList(c.NAT64Prefixes); err != nil {
		errs = append(errs, fmt.Errorf("--nat64-prefixes: %w", err))
	}
	cfg.IPv6, cfg.DropUDP = c.IPv6, c.DropUDP
	cfg.GlobalNamespace = c.GlobalNamespace
	cfg.ExcludedNamespaces = nil
	for _, ns := range strings.Split(c.ExcludedNamespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			cfg.ExcludedNamespaces = append(cfg.ExcludedNamespaces, ns)
		}
	}
	cfg.UnsafePods = inject.UnsafePodAction(c.UnsafePods)
	for _, q := range []struct {
		flag, value string
		list        corev1.ResourceList
		name        corev1.ResourceName
	}{
		{"--sidecar-cpu-request", c.SidecarCPURequest, cfg.SidecarResources.Requests, corev1.ResourceCPU},
		{"--sidecar-memory-request", c.SidecarMemoryRequest, cfg.SidecarResources.Requests, corev1.ResourceMemory},
		{"--sidecar-memory-limit", c.SidecarMemoryLimit, cfg.SidecarResources.Limits, corev1.ResourceMemory},
	} {
		quantity, err := resource.ParseQuantity(q.value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %w", q.flag, q.value, err))
			continue
		}
		q.list[q.name] = quantity
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, renameFields(err))
	}
	return cfg, errors.Join(errs...)
}

// fieldFlags maps inject.Config field names, as its Validate reports them, to this process's flags.
var fieldFlags = map[string]string{
	"Version": "version (build)", "InitImage": "--init-image", "SidecarImage": "--sidecar-image",
	"ImagePullPolicy": "--image-pull-policy", "SidecarUID": "--sidecar-uid", "SidecarGID": "--sidecar-gid",
	"CapturePort": "--capture-port", "DNSPort": "--dns-port", "AdminPort": "--admin-port", "IPv6": "--ipv6",
	"GlobalNamespace": "--global-namespace", "UnsafePods": "--unsafe-pods",
	"PublicCIDRs": "--public-cidrs", "NAT64Prefixes": "--nat64-prefixes",
	"TokenExpirationSeconds": "token expiration",
}

// renameFields rewrites "Field: ..." lines of a joined inject.Config validation error into "--flag: ...".
func renameFields(err error) error {
	lines := strings.Split(err.Error(), "\n")
	for n, line := range lines {
		for field, flagName := range fieldFlags {
			if rest, ok := strings.CutPrefix(line, field+":"); ok {
				line = flagName + ":" + rest
				for f2, flag2 := range fieldFlags {
					line = strings.ReplaceAll(line, " is also "+f2, " is also "+flag2)
				}
				lines[n] = line
				break
			}
		}
	}
	return errors.New(strings.Join(lines, "\n"))
}
