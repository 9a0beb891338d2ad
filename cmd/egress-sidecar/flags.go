package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"egress.io/egress/pkg/redirect"
	"egress.io/egress/pkg/sidecar"
)

// options are the command line: the sidecar's Config plus how to find the policy and log.
type options struct {
	cfg           sidecar.Config
	rulesFile     string
	kube          bool
	kubeconfig    string
	podName       string
	podLabelsFile string
	logLevel      string
}

// Flags that are not sidecar.Config fields.
const (
	flagRulesFile     = "rules-file"
	flagKube          = "kube"
	flagKubeconfig    = "kubeconfig"
	flagPodName       = "pod-name"
	flagPodLabelsFile = "pod-labels-file"
	flagLogLevel      = "log-level"
)

// envName returns the environment variable that stands in for a flag: EGRESS_ and the name in upper case
// with '-' as '_' (--drain-timeout is EGRESS_DRAIN_TIMEOUT).
func envName(flagName string) string {
	return "EGRESS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags reads the command line; a flag not given is read from its EGRESS_* variable, and the pod's
// name and namespace also from POD_NAME and POD_NAMESPACE (the downward API's usual names), and the kubeconfig
// also from KUBECONFIG (client-go's convention).
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	o := options{cfg: sidecar.DefaultConfig(), logLevel: "info"}
	c := &o.cfg
	fs := flag.NewFlagSet("egress-sidecar", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: egress-sidecar (--%s FILE | --%s) [flags]\n\n", flagRulesFile, flagKube)
		fmt.Fprintf(stderr, "Every flag can also be set with EGRESS_<FLAG> (upper case, '-' as '_').\n\n")
		fs.PrintDefaults()
	}

	fs.StringVar(&o.rulesFile, flagRulesFile, "", "file of EgressRuleSet YAML documents, reloaded when it changes (standalone use)")
	fs.BoolVar(&o.kube, flagKube, false, "watch EgressRuleSets in the pod's namespace and --global-namespace (in-cluster config, or --kubeconfig)")
	fs.StringVar(&o.kubeconfig, flagKubeconfig, "", "kubeconfig file for --kube outside a cluster (default $KUBECONFIG)")
	fs.StringVar(&o.podName, flagPodName, "", "name of this pod (default $POD_NAME)")
	fs.StringVar(&c.Pod.Namespace, sidecar.FlagPodNamespace, "", "namespace of this pod, whose rule sets apply (default $POD_NAMESPACE)")
	fs.StringVar(&o.podLabelsFile, flagPodLabelsFile, "", "downward-API file of this pod's labels (key=\"value\" lines), matched against podSelector")
	fs.StringVar(&c.GlobalNamespace, sidecar.FlagGlobalNamespace, c.GlobalNamespace, "namespace whose rule sets apply to every pod")
	fs.StringVar(&o.logLevel, flagLogLevel, o.logLevel, "log level: debug, info, warn or error")

	fs.Var(portValue{&c.CapturePort}, sidecar.FlagCapturePort, "port redirected TCP is accepted on")
	fs.Var(portValue{&c.DNSPort}, sidecar.FlagDNSPort, "port of the DNS proxy, UDP and TCP")
	fs.Var(addrsValue{&c.ListenAddrs}, sidecar.FlagListenAddrs, "comma-separated addresses the capture and DNS ports listen on")
	fs.StringVar(&c.AdminAddr, sidecar.FlagAdminAddr, c.AdminAddr, "host:port of the admin server (/metrics, /ready, /live, /debug/decisions); empty disables it")
	fs.DurationVar(&c.SniffTimeout, sidecar.FlagSniffTimeout, c.SniffTimeout, "how long to wait for a client's first bytes before the connection is decided by whoever speaks first")
	fs.IntVar(&c.SniffBytes, sidecar.FlagSniffBytes, c.SniffBytes, "most bytes read to recognise HTTP or a TLS ClientHello")
	fs.Var(portsValue{&c.ServerFirstPorts}, sidecar.FlagServerFirstPorts, "comma-separated ports of server-first protocols, not sniffed (\"\" for none)")
	fs.DurationVar(&c.ConnectTimeout, sidecar.FlagConnectTimeout, c.ConnectTimeout, "timeout of one TCP connection attempt to an upstream")
	fs.DurationVar(&c.TLSHandshakeTimeout, sidecar.FlagTLSHandshakeTimeout, c.TLSHandshakeTimeout, "timeout of the TLS handshake when originating TLS")
	fs.DurationVar(&c.ResponseHeaderTimeout, sidecar.FlagResponseHeaderTimeout, c.ResponseHeaderTimeout, "timeout waiting for an upstream's response headers (0: none)")
	fs.DurationVar(&c.IdleTimeout, sidecar.FlagIdleTimeout, c.IdleTimeout, "idle keep-alive connections are closed after this long")
	fs.StringVar(&c.CABundle, sidecar.FlagCABundle, "", "PEM file of CA certificates trusted for TLS origination besides the system roots")
	fs.Var(listValue{&c.UpstreamDNS}, sidecar.FlagUpstreamDNS, "comma-separated ip:port of the real resolvers (default: nameservers of /etc/resolv.conf)")
	fs.DurationVar(&c.DNSTimeout, sidecar.FlagDNSTimeout, c.DNSTimeout, "timeout of one query to one upstream resolver")
	fs.StringVar(&c.LocalSuffix, sidecar.FlagLocalSuffix, c.LocalSuffix, "http://NAME.<suffix>/ asks the sidecar to originate TLS to NAME")
	fs.Var(prefixesValue{&c.DenyCIDRs}, sidecar.FlagDenyCIDRs, "comma-separated CIDRs that resolved names may not reach (besides the special-purpose ranges), e.g. the cluster's")
	fs.Var(prefixesValue{&c.PublicCIDRs}, sidecar.FlagPublicCIDRs, "comma-separated special-purpose CIDRs that resolved names may reach like the internet (not loopback, link-local, multicast)")
	fs.Var(prefixesValue{&c.NAT64Prefixes}, sidecar.FlagNAT64Prefixes, "comma-separated NAT64 prefixes (DNS64), whose addresses are checked by the IPv4 address they embed")
	fs.IntVar(&c.MaxHostLabels, sidecar.FlagMaxHostLabels, c.MaxHostLabels, "distinct host label values for hosts not named in targets; later ones are \"other\"")
	fs.BoolVar(&c.LogAllowed, sidecar.FlagLogAllowed, false, "log allowed connections and requests too, not just denials and audits")
	fs.IntVar(&c.DecisionsBuffer, sidecar.FlagDecisionsBuffer, c.DecisionsBuffer, "how many recent decisions /debug/decisions shows")
	fs.DurationVar(&c.DrainTimeout, sidecar.FlagDrainTimeout, c.DrainTimeout, "on SIGTERM, how long open connections may finish before they are closed")

	fs.VisitAll(func(f *flag.Flag) { f.Usage += " (env " + envName(f.Name) + ")" })
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		v := getenv(envName(f.Name))
		switch {
		case v == "" && f.Name == flagPodName:
			v = getenv("POD_NAME")
		case v == "" && f.Name == sidecar.FlagPodNamespace:
			v = getenv("POD_NAMESPACE")
		case v == "" && f.Name == flagKubeconfig:
			v = getenv("KUBECONFIG")
		}
		if v == "" {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("--%s (from %s): %w", f.Name, envName(f.Name), e)
		}
	})
	if err != nil {
		return o, err
	}
	switch {
	case o.rulesFile == "" && !o.kube:
		return o, fmt.Errorf("--%s or --%s is required: where the policy comes from", flagRulesFile, flagKube)
	case o.rulesFile != "" && o.kube:
		return o, fmt.Errorf("--%s and --%s exclude each other", flagRulesFile, flagKube)
	case o.kube && c.Pod.Namespace == "":
		return o, fmt.Errorf("--%s (or POD_NAMESPACE) is required with --%s", sidecar.FlagPodNamespace, flagKube)
	}
	return o, c.Validate()
}

type portValue struct{ p *uint16 }

func (v portValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.Itoa(int(*v.p))
}

func (v portValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("%q is not a port from 1 to 65535", s)
	}
	*v.p = uint16(n)
	return nil
}

type portsValue struct{ p *[]uint16 }

func (v portsValue) String() string {
	if v.p == nil {
		return ""
	}
	parts := make([]string, len(*v.p))
	for i, p := range *v.p {
		parts[i] = strconv.Itoa(int(p))
	}
	return strings.Join(parts, ",")
}

func (v portsValue) Set(s string) error {
	var out []uint16
	for _, part := range splitList(s) {
		var p uint16
		if err := (portValue{&p}).Set(part); err != nil {
			return err
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	*v.p = out
	return nil
}

type addrsValue struct{ p *[]netip.Addr }

func (v addrsValue) String() string {
	if v.p == nil {
		return ""
	}
	return joinStringers(*v.p)
}

func (v addrsValue) Set(s string) error {
	var out []netip.Addr
	for _, part := range splitList(s) {
		a, err := netip.ParseAddr(part)
		if err != nil {
			return err
		}
		out = append(out, a.Unmap())
	}
	*v.p = out
	return nil
}

type prefixesValue struct{ p *[]netip.Prefix }

func (v prefixesValue) String() string {
	if v.p == nil {
		return ""
	}
	return joinStringers(*v.p)
}

// Set parses the list with egress-init's parser, so that both accept the same CIDRs.
func (v prefixesValue) Set(s string) error {
	prefixes, err := redirect.ParseCIDRList(s)
	if err != nil {
		return err
	}
	*v.p = prefixes
	return nil
}

// joinStringers renders a list flag's value: its items, comma-separated.
func joinStringers[T fmt.Stringer](items []T) string {
	parts := make([]string, len(items))
	for i, item := range items {
		parts[i] = item.String()
	}
	return strings.Join(parts, ",")
}

// listValue is a list of resolver addresses.
type listValue struct{ p *[]string }

func (v listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

// Set takes ip:port entries; a bare IP gets port 53.
func (v listValue) Set(s string) error {
	out := splitList(s)
	for i, part := range out {
		if a, err := netip.ParseAddr(part); err == nil {
			out[i] = netip.AddrPortFrom(a, 53).String()
		}
	}
	*v.p = out
	return nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
