package sidecar

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"

	"egress.io/egress/pkg/settings"
)

// Names of the policy service's flags, and where an injected pod has its token and the service's CA.
const (
	FlagPolicyService   = "policy-service"
	FlagPolicyTokenFile = "policy-token-file"
	FlagPolicyCAFile    = "policy-ca-file"
	// PolicyCredentialsDir holds the projected token (audience PolicyAudience) and the service's CA.
	PolicyCredentialsDir   = "/var/run/secrets/egress.io/policy"
	DefaultPolicyTokenFile = PolicyCredentialsDir + "/token"
	DefaultPolicyCAFile    = PolicyCredentialsDir + "/ca.crt"
	// PolicyAudience is the audience of the token a sidecar presents to the policy service.
	PolicyAudience = "egress.io/policy"
)

// Settings is everything egress-sidecar is told by its command line and environment: the data path's
// Config, where the policy comes from, and how to log. The webhook writes the injected sidecar's arguments
// from it (Args), and egress-sidecar parses them back with the same table (Flags).
type Settings struct {
	Config
	// RulesFile is a file of EgressRuleSet documents, reloaded when it changes (--rules-file).
	RulesFile string
	// Kube watches EgressRuleSets in the pod's namespace and the global namespace (--kube).
	Kube bool
	// PolicyService is the policy service's URL, https://HOST[:PORT], to stream the rule sets of the pod's
	// namespace and the global namespace from (--policy-service).
	PolicyService string
	// PolicyTokenFile is the pod's projected service-account token presented to the policy service
	// (--policy-token-file); PolicyCAFile the CA bundle its certificate is checked with (--policy-ca-file).
	PolicyTokenFile string
	PolicyCAFile    string
	// Kubeconfig is the kubeconfig file for Kube outside a cluster; empty uses the in-cluster credentials
	// (--kubeconfig).
	Kubeconfig string
	// PodName names this pod in the Kubernetes source's logs (--pod-name).
	PodName string
	// LogLevel is the level of the JSON log on stderr (--log-level).
	LogLevel slog.Level
}

// DefaultSettings returns the settings egress-sidecar runs with when no flag is given: DefaultConfig,
// no policy source (one is required), info logging.
func DefaultSettings() Settings {
	return Settings{Config: DefaultConfig(), LogLevel: slog.LevelInfo,
		PolicyTokenFile: DefaultPolicyTokenFile, PolicyCAFile: DefaultPolicyCAFile}
}

// Validate reports every problem of s, each naming the flag at fault.
func (s Settings) Validate() error {
	var errs []error
	if err := s.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	var sources []string
	if s.RulesFile != "" {
		sources = append(sources, "--"+FlagRulesFile)
	}
	if s.Kube {
		sources = append(sources, "--"+FlagKube)
	}
	if s.PolicyService != "" {
		sources = append(sources, "--"+FlagPolicyService)
	}
	switch {
	case len(sources) == 0:
		errs = append(errs, fmt.Errorf("--%s, --%s or --%s is required: where the policy comes from", FlagPolicyService, FlagKube, FlagRulesFile))
	case len(sources) > 1:
		errs = append(errs, fmt.Errorf("%s exclude each other", strings.Join(sources, " and ")))
	}
	if s.PolicyService != "" {
		if u, err := url.Parse(s.PolicyService); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("--%s: %q: want https://HOST[:PORT]", FlagPolicyService, s.PolicyService))
		}
		if s.PolicyTokenFile == "" {
			errs = append(errs, fmt.Errorf("--%s: must not be empty with --%s", FlagPolicyTokenFile, FlagPolicyService))
		}
		if s.PolicyCAFile == "" {
			errs = append(errs, fmt.Errorf("--%s: must not be empty with --%s", FlagPolicyCAFile, FlagPolicyService))
		}
	}
	return errors.Join(errs...)
}

// Args returns s as egress-sidecar arguments: the flags whose values differ from DefaultSettings, plus
// --capture-port, --dns-port, --admin-addr and --global-namespace always (egress-init, the probes and the
// webhook's RoleBindings must agree with them), in the order of Flags. Parsing them into DefaultSettings
// gives back s, but for Pod.Labels, which come from the labels file.
func (s Settings) Args() []string {
	defaults := DefaultSettings()
	return settings.Args(s.Flags(), defaults.Flags())
}

// Flags is egress-sidecar's table of flags, bound to s's fields: listeners, policy source, the data
// path's limits and timeouts, the address guard, observability.
func (s *Settings) Flags() []settings.Flag {
	c := &s.Config
	return []settings.Flag{
		{
			Name: FlagCapturePort, Value: settings.Port(&c.CapturePort), Explicit: true,
			Usage: "Port redirected TCP is accepted on (egress-init's `--capture-port`).",
		},
		{
			Name: FlagDNSPort, Value: settings.Port(&c.DNSPort), Explicit: true,
			Usage: "Port of the DNS proxy, UDP and TCP (egress-init's `--dns-port`).",
		},
		{
			Name: FlagListenAddrs, Value: settings.Addrs(&c.ListenAddrs),
			Usage: "Comma-separated addresses the capture and DNS ports listen on. An IPv6 address the pod " +
				"cannot bind (no IPv6) is skipped with a warning.",
		},
		{
			Name: FlagAdminAddr, Value: settings.String(&c.AdminAddr, "HOST:PORT"), Explicit: true,
			Usage: "Admin server (`/metrics`, `/ready`, `/live`, `/debug/decisions`); reachable by the kubelet's " +
				"probes. Empty disables it.",
		},
		{
			Name: FlagPolicyService, Value: settings.String(&s.PolicyService, "URL"),
			Usage: "Stream the rule sets of the pod's namespace and `--global-namespace` from the policy service at " +
				"this `https://HOST[:PORT]`, authenticated by the pod's token (what injected pods do). One of " +
				"`--policy-service`, `--kube` and `--rules-file` is required.",
		},
		{
			Name: FlagPolicyTokenFile, Value: settings.String(&s.PolicyTokenFile, "FILE"),
			Usage: "The pod's projected service-account token (audience `" + PolicyAudience + "`) presented to " +
				"`--policy-service`, read again for every connection.",
		},
		{
			Name: FlagPolicyCAFile, Value: settings.String(&s.PolicyCAFile, "FILE"),
			Usage: "PEM file of the CA that signs `--policy-service`'s certificate, read again for every connection.",
		},
		{
			Name: FlagGatewayTokenFile, Value: settings.String(&c.GatewayTokenFile, "FILE"),
			Usage: "The pod's projected service-account token (audience `egress.io/gateway`) presented to the " +
				"EgressGateways that rule sets route through (`spec.gateway`), read again for every tunnel.",
		},
		{
			Name: FlagGatewayCAFile, Value: settings.String(&c.GatewayCAFile, "FILE"),
			Usage: "PEM file of the CA that signs the gateways' certificates, re-read when it changes.",
		},
		{
			Name: FlagGatewayPort, Value: settings.Port(&c.GatewayPort),
			Usage: "Port of the gateways' Services, `egress-gateway-NAME.<global-namespace>.svc.<cluster-domain>`.",
		},
		{
			Name: FlagGatewayAddresses, Value: settings.Strings(&c.GatewayAddresses, "NAME=HOST:PORT,..."), DefaultText: "none",
			Usage: "Gateways reached at another address than their Service's name (clusters without DNS, tests); " +
				"their certificates are still checked for the Service's name.",
		},
		{
			Name: FlagRulesFile, Value: settings.String(&s.RulesFile, "FILE"),
			Usage: "File of EgressRuleSet YAML documents (what `kubectl apply` takes), reloaded when it changes.",
		},
		{
			Name: FlagKube, Value: settings.Bool(&s.Kube),
			Usage: "Watch EgressRuleSets in the pod's namespace and `--global-namespace` directly, as the pod's " +
				"service account (in-cluster credentials, or `--kubeconfig`); the service account needs RBAC to " +
				"read them.",
		},
		{
			Name: FlagKubeconfig, Value: settings.String(&s.Kubeconfig, "FILE"), Aliases: []string{"KUBECONFIG"},
			DefaultText: "in-cluster credentials",
			Usage:       "Kubeconfig for `--kube` outside a cluster.",
		},
		{
			Name: FlagPodName, Value: settings.String(&s.PodName, "NAME"), Aliases: []string{"POD_NAME"},
			Usage: "This pod's name, for the policy source's logs.",
		},
		{
			Name: FlagPodNamespace, Value: settings.String(&c.Pod.Namespace, "NAME"), Aliases: []string{"POD_NAMESPACE"},
			Usage: "This pod's namespace. Rule sets apply from it and from `--global-namespace`; a rule set " +
				"without a namespace (as in a rules file) always counts as the pod's. Required with `--kube` and " +
				"`--policy-service`.",
		},
		{
			Name: FlagGlobalNamespace, Value: settings.String(&c.GlobalNamespace, "NAME"), Explicit: true,
			Usage: "Namespace whose rule sets apply to every pod.",
		},
		{
			Name: FlagPodLabelsFile, Value: settings.String(&c.PodLabelsFile, "FILE"),
			Usage: "Downward-API labels file (`key=\"value\"` lines), matched against `podSelector`; followed " +
				"while the sidecar runs, so relabelling the pod re-selects its rule sets at once. Without it the " +
				"pod has no labels.",
		},
		{
			Name: FlagLogLevel, Value: settings.LogLevel(&s.LogLevel),
			Usage: "`debug`, `info`, `warn` or `error`.",
		},
		{
			Name: FlagSniffTimeout, Value: settings.Duration(&c.SniffTimeout),
			Usage: "How long to wait for a client's first bytes before the connection is decided by whoever " +
				"speaks first.",
		},
		{
			Name: FlagSniffBytes, Value: settings.Int(&c.SniffBytes),
			Usage: "Most bytes read to recognise HTTP or a complete TLS ClientHello (512 to 1048576).",
		},
		{
			Name: FlagServerFirstPorts, Value: settings.Ports(&c.ServerFirstPorts), DefaultText: "none",
			Usage: "Destination ports that are not sniffed (they go straight to opaque TCP). `\"\"` for none.",
		},
		{
			Name: FlagConnectTimeout, Value: settings.Duration(&c.ConnectTimeout),
			Usage: "One TCP connection attempt to an upstream.",
		},
		{
			Name: FlagTLSHandshakeTimeout, Value: settings.Duration(&c.TLSHandshakeTimeout),
			Usage: "TLS handshake when originating TLS.",
		},
		{
			Name: FlagResponseHeaderTimeout, Value: settings.Duration(&c.ResponseHeaderTimeout),
			Usage: "Wait for an upstream's response headers; 0 waits as long as the client does. When it runs " +
				"out the answer is 504.",
		},
		{
			Name: FlagIdleTimeout, Value: settings.Duration(&c.IdleTimeout),
			Usage: "Idle keep-alive connections, from apps and to upstreams, are closed after this long.",
		},
		{
			Name: FlagCABundle, Value: settings.String(&c.CABundle, "FILE"), DefaultText: "system roots only",
			Usage: "PEM file of CA certificates trusted for TLS origination, besides the system roots.",
		},
		{
			Name: FlagUpstreamDNS, Value: upstreamsValue(&c.UpstreamDNS), DefaultText: "nameservers of `/etc/resolv.conf`",
			Usage: "Comma-separated `ip:port` (a bare IP means port 53) of the real resolvers. The DNS proxy " +
				"forwards to them, and the sidecar resolves its own dials with them.",
		},
		{
			Name: FlagDNSTimeout, Value: settings.Duration(&c.DNSTimeout),
			Usage: "One query to one upstream resolver.",
		},
		{
			Name: FlagLocalSuffix, Value: settings.String(&c.LocalSuffix, "SUFFIX"),
			Usage: "`http://NAME.<suffix>/` asks for TLS origination to NAME.",
		},
		{
			Name: FlagClusterDomain, Value: settings.String(&c.ClusterDomain, "DOMAIN"),
			Usage: "The cluster's DNS domain: a rule set's `deniedBackend` Service is reached at " +
				"NAME.NAMESPACE.svc.DOMAIN.",
		},
		{
			Name: FlagDenyCIDRs, Value: settings.Prefixes(&c.DenyCIDRs), DefaultText: "none",
			Usage: "Ranges refused to resolved names besides the special-purpose ranges, e.g. the cluster's " +
				"`10.96.0.0/12,10.244.0.0/16`.",
		},
		{
			Name: FlagPublicCIDRs, Value: settings.Prefixes(&c.PublicCIDRs), DefaultText: "none",
			Usage: "Special-purpose ranges resolved names may reach like the internet, e.g. `198.18.0.0/24` for a " +
				"lab network (never loopback, link-local, multicast or the sentinels).",
		},
		{
			Name: FlagNAT64Prefixes, Value: settings.Prefixes(&c.NAT64Prefixes),
			Usage: "NAT64 prefixes a cluster's DNS64 synthesises; their addresses are checked by the IPv4 " +
				"address they embed. `\"\"` for none.",
		},
		{
			Name: FlagMaxHostLabels, Value: settings.Int(&c.MaxHostLabels),
			Usage: "Distinct `host` label values for hosts no target names; later ones are `other`.",
		},
		{
			Name: FlagLogAllowed, Value: settings.Bool(&c.LogAllowed),
			Usage: "Log allowed connections and requests too, not just denials and audits.",
		},
		{
			Name: FlagDecisionsBuffer, Value: settings.Int(&c.DecisionsBuffer),
			Usage: "How many recent decisions `/debug/decisions` keeps (0 keeps none).",
		},
		{
			Name: FlagDrainTimeout, Value: settings.Duration(&c.DrainTimeout),
			Usage: "On SIGTERM, how long open connections may finish.",
		},
	}
}

// upstreamsValue binds the resolver list: ip:port entries, a bare IP meaning port 53.
func upstreamsValue(p *[]string) settings.Value {
	list := settings.Strings(p, "ADDRS")
	return settings.Func("ADDRS", list.String, func(s string) error {
		if err := list.Set(s); err != nil {
			return err
		}
		for i, entry := range *p {
			if a, err := netip.ParseAddr(entry); err == nil {
				(*p)[i] = netip.AddrPortFrom(a, 53).String()
			}
		}
		return nil
	})
}
