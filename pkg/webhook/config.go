package webhook

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"egress.io/egress/pkg/inject"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/settings"
)

// Names of the webhook's flags that are not injection settings (those are inject.Config's).
const (
	FlagWebhookHost       = "webhook-host"
	FlagWebhookPort       = "webhook-port"
	FlagCertDir           = "cert-dir"
	FlagStaticCerts       = "static-certs"
	FlagCertSecret        = "cert-secret"
	FlagWebhookConfig     = "webhook-config"
	FlagServiceName       = "service-name"
	FlagServiceNamespace  = "service-namespace"
	FlagMetricsAddr       = "metrics-bind-address"
	FlagProbeAddr         = "health-probe-bind-address"
	FlagLeaderElect       = "leader-elect"
	FlagLeaderElectionID  = "leader-election-id"
	FlagKubeconfig        = "kubeconfig"
	FlagLogLevel          = "log-level"
	FlagPolicyPort        = "policy-port"
	FlagPolicyServiceName = "policy-service-name"
	FlagPolicyMaxStreams  = "policy-max-streams"
	defaultServiceName    = "egress-webhook"
	defaultCertSecretName = "egress-webhook-certs"
)

// Config is everything the webhook process is told by its command line and environment: the injection
// settings, and how it serves and runs.
type Config struct {
	// Inject holds the injection settings: images, egress-init's and the sidecar's settings, resources.
	// Its Version is set by the command from the build, not by a flag.
	Inject inject.Config

	// WebhookHost and WebhookPort are where the webhook server listens (empty host: all addresses).
	WebhookHost string
	WebhookPort uint16
	// CertDir holds the serving certificate tls.crt and key tls.key (the mounted Secret when rotating).
	CertDir string
	// StaticCerts serves tls.crt and tls.key from CertDir as they are: no rotation, no Secret, no caBundle
	// updates (for running the webhook as a local process, or with certificates managed elsewhere).
	StaticCerts       bool
	CertSecretName    string
	WebhookConfigName string
	ServiceName       string
	ServiceNamespace  string
	// MetricsAddr serves /metrics ("0" disables it); ProbeAddr serves /healthz and /readyz.
	MetricsAddr      string
	ProbeAddr        string
	LeaderElection   bool
	LeaderElectionID string
	// PolicyPort is where the policy service listens (on WebhookHost); 0 runs no policy service here.
	PolicyPort uint16
	// PolicyServiceName is the Service in front of the policy service (in ServiceNamespace): its
	// certificate's DNS names.
	PolicyServiceName string
	// PolicyMaxStreams bounds the sidecars one replica streams to; more get 503 and try another replica.
	PolicyMaxStreams int
	// Kubeconfig reaches the API server from outside a cluster; empty uses the in-cluster credentials.
	Kubeconfig string
	// LogLevel is the level of the JSON log on stderr.
	LogLevel slog.Level
}

// DefaultConfig returns the defaults of every flag.
func DefaultConfig() Config {
	return Config{
		Inject:            inject.DefaultConfig(),
		WebhookPort:       9443,
		CertDir:           "/certs",
		CertSecretName:    defaultCertSecretName,
		WebhookConfigName: defaultServiceName,
		ServiceName:       defaultServiceName,
		ServiceNamespace:  policy.DefaultGlobalNamespace,
		MetricsAddr:       ":8080",
		ProbeAddr:         ":8081",
		LeaderElection:    true,
		LeaderElectionID:  "egress-webhook-controllers",
		PolicyPort:        9444,
		PolicyServiceName: "egress-policy",
		PolicyMaxStreams:  50_000,
		LogLevel:          slog.LevelInfo,
	}
}

// Flags is the webhook's table of flags, bound to c's fields: the injection settings (inject.Config's
// table, which includes egress-init's and some of the sidecar's under their own names), then serving.
func (c *Config) Flags() []settings.Flag {
	return append(c.Inject.Flags(),
		settings.Flag{Name: FlagWebhookHost, Value: settings.String(&c.WebhookHost, "HOST"), DefaultText: "all addresses",
			Usage: "Address the webhook server listens on."},
		settings.Flag{Name: FlagWebhookPort, Value: settings.Port(&c.WebhookPort),
			Usage: "Port the webhook server listens on."},
		settings.Flag{Name: FlagCertDir, Value: settings.String(&c.CertDir, "DIR"),
			Usage: "Directory with the serving certificate `tls.crt` and key `tls.key` (the mounted Secret when rotating)."},
		settings.Flag{Name: FlagStaticCerts, Value: settings.Bool(&c.StaticCerts),
			Usage: "Serve the certificate in `--cert-dir` as it is: no rotation, no Secret, no `caBundle` updates " +
				"(local runs, certificates managed elsewhere)."},
		settings.Flag{Name: FlagCertSecret, Value: settings.String(&c.CertSecretName, "NAME"),
			Usage: "Secret (in `--service-namespace`) the rotator keeps the CA and serving certificate in."},
		settings.Flag{Name: FlagWebhookConfig, Value: settings.String(&c.WebhookConfigName, "NAME"),
			Usage: "The MutatingWebhookConfiguration whose `caBundle` is kept in sync."},
		settings.Flag{Name: FlagServiceName, Value: settings.String(&c.ServiceName, "NAME"),
			Usage: "Service in front of the webhook (the certificate's DNS names)."},
		settings.Flag{Name: FlagServiceNamespace, Value: settings.String(&c.ServiceNamespace, "NAME"),
			Usage: "Namespace of the Service, the Secret and the leader-election Lease."},
		settings.Flag{Name: FlagMetricsAddr, Value: settings.String(&c.MetricsAddr, "ADDR"),
			Usage: "Address of `/metrics` (`0` disables it)."},
		settings.Flag{Name: FlagProbeAddr, Value: settings.String(&c.ProbeAddr, "ADDR"),
			Usage: "Address of `/healthz` and `/readyz`."},
		settings.Flag{Name: FlagLeaderElect, Value: settings.Bool(&c.LeaderElection),
			Usage: "Run the controllers in one replica at a time (the webhook serves in every replica)."},
		settings.Flag{Name: FlagLeaderElectionID, Value: settings.String(&c.LeaderElectionID, "NAME"),
			Usage: "Name of the leader-election Lease."},
		settings.Flag{Name: FlagPolicyPort, Value: portOrZero(&c.PolicyPort),
			Usage: "Port the policy service listens on (every replica serves; `0`: none in this process). Injected " +
				"sidecars reach it through the Service `--policy-service-name`, at the sidecars' `--policy-service`."},
		settings.Flag{Name: FlagPolicyServiceName, Value: settings.String(&c.PolicyServiceName, "NAME"),
			Usage: "Service in front of the policy service (in `--service-namespace`): the DNS names of its certificate, " +
				"which the rotated CA signs."},
		settings.Flag{Name: FlagPolicyMaxStreams, Value: settings.Int(&c.PolicyMaxStreams),
			Usage: "Most sidecars one replica streams to; more are answered 503 and retry, reaching another replica."},
		settings.Flag{Name: FlagKubeconfig, Value: settings.String(&c.Kubeconfig, "FILE"), Aliases: []string{"KUBECONFIG"},
			DefaultText: "in-cluster credentials",
			Usage:       "Kubeconfig to reach the API server from outside a cluster."},
		settings.Flag{Name: FlagLogLevel, Value: settings.LogLevel(&c.LogLevel),
			Usage: "`debug`, `info`, `warn` or `error` (JSON on stderr)."},
	)
}

// portOrZero binds a port, or 0 for none.
func portOrZero(p *uint16) settings.Value {
	port := settings.Port(p)
	return settings.Func("PORT", port.String, func(s string) error {
		if strings.TrimSpace(s) == "0" {
			*p = 0
			return nil
		}
		return port.Set(s)
	})
}

// Validate reports every invalid setting, naming its flag.
func (c Config) Validate() error {
	var errs []error
	if err := c.Inject.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.WebhookPort == 0 {
		errs = append(errs, fmt.Errorf("--%s: port 0 is out of range 1-65535", FlagWebhookPort))
	}
	if c.PolicyPort != 0 && c.PolicyPort == c.WebhookPort {
		errs = append(errs, fmt.Errorf("--%s: %d is also --%s", FlagPolicyPort, c.PolicyPort, FlagWebhookPort))
	}
	if c.PolicyMaxStreams < 1 {
		errs = append(errs, fmt.Errorf("--%s: %d: must be at least 1", FlagPolicyMaxStreams, c.PolicyMaxStreams))
	}
	if c.CertDir == "" {
		errs = append(errs, fmt.Errorf("--%s: must not be empty", FlagCertDir))
	}
	for _, name := range []struct{ flag, value string }{
		{FlagWebhookConfig, c.WebhookConfigName}, {FlagServiceName, c.ServiceName},
		{FlagCertSecret, c.CertSecretName}, {FlagLeaderElectionID, c.LeaderElectionID}, {FlagPolicyServiceName, c.PolicyServiceName},
	} {
		if msgs := validation.IsDNS1123Subdomain(name.value); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--%s: %q: %s", name.flag, name.value, strings.Join(msgs, "; ")))
		}
	}
	if msgs := validation.IsDNS1123Label(c.ServiceNamespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--%s: %q: %s", FlagServiceNamespace, c.ServiceNamespace, strings.Join(msgs, "; ")))
	}
	return errors.Join(errs...)
}
