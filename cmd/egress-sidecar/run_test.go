package main

import (
	"context"
	"flag"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"egress.io/egress/internal/docsection"
	"egress.io/egress/internal/settingstest"
	"egress.io/egress/pkg/settings"
	"egress.io/egress/pkg/sidecar"
)

var update = flag.Bool("update", false, "rewrite testdata/help.golden and the flag table of docs/sidecar.md")

func TestHelp(t *testing.T) {
	var stdout, stderr strings.Builder
	if err := run(context.Background(), []string{"--help"}, settings.NoEnv, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Errorf("--help wrote to stderr: %q", stderr.String())
	}
	settingstest.Golden(t, "testdata/help.golden", stdout.String(), *update, "go test ./cmd/egress-sidecar -update")
}

func TestDocsFlagTable(t *testing.T) {
	defaults := sidecar.DefaultSettings()
	err := docsection.Check("../../docs/sidecar.md", "flag table", "go test ./cmd/egress-sidecar -update",
		settings.MarkdownTable(defaults.Flags()), *update)
	if err != nil {
		t.Error(err)
	}
}

func TestEnvAgreesWithFlags(t *testing.T) {
	settingstest.EnvAgreesWithFlags(t, func() (*sidecar.Settings, []settings.Flag) {
		s := sidecar.DefaultSettings()
		return &s, s.Flags()
	}, map[string][2]string{
		sidecar.FlagCapturePort:           {"16001", "16002"},
		sidecar.FlagDNSPort:               {"16053", "16054"},
		sidecar.FlagListenAddrs:           {"127.0.0.1", "::1"},
		sidecar.FlagAdminAddr:             {"127.0.0.1:9000", ""},
		sidecar.FlagRulesFile:             {"/etc/a.yaml", "/etc/b.yaml"},
		sidecar.FlagKube:                  {"true", "false"},
		sidecar.FlagKubeconfig:            {"/k1", "/k2"},
		sidecar.FlagPodName:               {"a", "b"},
		sidecar.FlagPodNamespace:          {"shop", "other"},
		sidecar.FlagGlobalNamespace:       {"global", "other"},
		sidecar.FlagPodLabelsFile:         {"/l1", "/l2"},
		sidecar.FlagLogLevel:              {"debug", "warn"},
		sidecar.FlagSniffTimeout:          {"1s", "2s"},
		sidecar.FlagSniffBytes:            {"1024", "2048"},
		sidecar.FlagServerFirstPorts:      {"", "22,2222"},
		sidecar.FlagConnectTimeout:        {"1s", "2s"},
		sidecar.FlagTLSHandshakeTimeout:   {"1s", "2s"},
		sidecar.FlagResponseHeaderTimeout: {"1s", "2s"},
		sidecar.FlagIdleTimeout:           {"1s", "2s"},
		sidecar.FlagCABundle:              {"/ca1.pem", "/ca2.pem"},
		sidecar.FlagUpstreamDNS:           {"198.18.0.2", "198.18.0.3:5353"},
		sidecar.FlagDNSTimeout:            {"1s", "3s"},
		sidecar.FlagLocalSuffix:           {"a.local", "b.local"},
		sidecar.FlagClusterDomain:         {"cluster.a", "cluster.b"},
		sidecar.FlagDenyCIDRs:             {"10.96.0.0/12", "fd00::/8"},
		sidecar.FlagPublicCIDRs:           {"198.18.0.0/24", "100.64.0.0/10"},
		sidecar.FlagNAT64Prefixes:         {"", "64:ff9b:1::/96"},
		sidecar.FlagMaxHostLabels:         {"7", "8"},
		sidecar.FlagLogAllowed:            {"true", "false"},
		sidecar.FlagDecisionsBuffer:       {"7", "8"},
		sidecar.FlagDrainTimeout:          {"1s", "2s"},
		sidecar.FlagPolicyService:         {"https://a", "https://b:8443"},
		sidecar.FlagPolicyTokenFile:       {"/t1", "/t2"},
		sidecar.FlagPolicyCAFile:          {"/c1", "/c2"},
		sidecar.FlagGatewayTokenFile:      {"/g1", "/g2"},
		sidecar.FlagGatewayCAFile:         {"/gc1", "/gc2"},
		sidecar.FlagGatewayPort:           {"1443", "2443"},
		sidecar.FlagGatewayAddresses:      {"a=198.18.0.1:1443", "a=198.18.0.1:1443,b=gw.example:2443"},
	})
}

func TestParseSettings(t *testing.T) {
	s, err := parseSettings([]string{
		"--rules-file", "/etc/egress/rules.yaml",
		"--upstream-dns", "198.18.0.2, 198.18.0.3:5353",
		"--server-first-ports", "22,2222,22",
		"--deny-cidrs", "10.96.0.0/12,fd00::/8",
		"--listen-addrs", "127.0.0.1",
		"--drain-timeout", "3s",
		"--log-allowed",
	}, settings.EnvMap(map[string]string{
		"EGRESS_DRAIN_TIMEOUT":   "9s", // the flag wins
		"EGRESS_MAX_HOST_LABELS": "7",
		"POD_NAMESPACE":          "shop",
		"POD_NAME":               "checkout-1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s.RulesFile != "/etc/egress/rules.yaml" || s.PodName != "checkout-1" || s.Pod.Namespace != "shop" {
		t.Errorf("settings %+v", s)
	}
	if strings.Join(s.UpstreamDNS, " ") != "198.18.0.2:53 198.18.0.3:5353" {
		t.Errorf("upstream DNS %q", s.UpstreamDNS)
	}
	if len(s.ServerFirstPorts) != 2 || s.ServerFirstPorts[1] != 2222 {
		t.Errorf("server-first ports %v", s.ServerFirstPorts)
	}
	if len(s.DenyCIDRs) != 2 || s.DenyCIDRs[1] != netip.MustParsePrefix("fd00::/8") {
		t.Errorf("deny CIDRs %v", s.DenyCIDRs)
	}
	if s.DrainTimeout != 3*time.Second || s.MaxHostLabels != 7 || !s.LogAllowed || len(s.ListenAddrs) != 1 || s.LogLevel != slog.LevelInfo {
		t.Errorf("settings %+v", s)
	}
}

func TestBadSettingsNameTheFlag(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "--policy-service, --kube or --rules-file is required"},
		{[]string{"--policy-service", "https://egress-policy.egress-system.svc"}, nil, "--pod-namespace (or POD_NAMESPACE) is required with --policy-service"},
		{[]string{"--policy-service", "http://x", "--pod-namespace", "shop"}, nil, `--policy-service: "http://x": want https://HOST[:PORT]`},
		{[]string{"--rules-file", "r", "--kube"}, nil, "exclude each other"},
		{[]string{"--kube"}, nil, "--pod-namespace (or POD_NAMESPACE) is required with --kube"},
		{[]string{"--rules-file", "r", "--capture-port", "0"}, nil, "--capture-port: port 0 is out of range"},
		{[]string{"--rules-file", "r", "--deny-cidrs", "10.1.2.3/8"}, nil, "--deny-cidrs: \"10.1.2.3/8\": invalid prefix: host bits set"},
		{[]string{"--rules-file", "r"}, map[string]string{"EGRESS_SNIFF_BYTES": "x"}, `--sniff-bytes (from EGRESS_SNIFF_BYTES): "x" is not a whole number`},
		{[]string{"--rules-file", "r", "--sniff-timeout", "0s"}, nil, "--sniff-timeout: 0s: must be positive"},
		{[]string{"--rules-file", "r", "--log-level", "loud"}, nil, `--log-level: "loud" is not a log level`},
		{[]string{"--rules-file", "r", "--public-cidrs", "127.0.0.0/8"}, nil, "--public-cidrs"},
		{[]string{"--rules-file", "r", "extra"}, nil, `unexpected argument "extra"`},
		{[]string{"--rules-file", "r", "--nope"}, nil, "unknown flag --nope"},
	}
	for _, tt := range tests {
		var stdout, stderr strings.Builder
		err := run(context.Background(), tt.args, settings.EnvMap(tt.env), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			continue
		}
		var exit strings.Builder
		if code := settings.Exit("egress-sidecar", err, &exit); code != settings.ExitUsage || strings.Count(exit.String(), "\n") != 1 {
			t.Errorf("run(%q): exit %d with %q, want %d and one line", tt.args, code, exit.String(), settings.ExitUsage)
		}
	}
}

func TestKubeSourceNeedsCredentials(t *testing.T) {
	s, err := parseSettings([]string{"--kube", "--pod-namespace", "shop", "--kubeconfig", "/nonexistent/kubeconfig"}, settings.NoEnv)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := newSource(s, slog.New(slog.DiscardHandler), prometheus.NewRegistry()); err == nil || !strings.Contains(err.Error(), "--kube") {
		t.Errorf("newSource(--kube with a missing kubeconfig) = %v", err)
	}
}

func TestServiceSourceFromSettings(t *testing.T) {
	s, err := parseSettings([]string{"--policy-service", "https://egress-policy.egress-system.svc", "--pod-namespace", "shop"}, settings.NoEnv)
	if err != nil {
		t.Fatal(err)
	}
	if s.PolicyTokenFile != "/var/run/secrets/egress.io/policy/token" || s.PolicyCAFile != "/var/run/secrets/egress.io/policy/ca.crt" {
		t.Errorf("default credentials: %q, %q", s.PolicyTokenFile, s.PolicyCAFile)
	}
	reg := prometheus.NewRegistry()
	src, detail, err := newSource(s, slog.New(slog.DiscardHandler), reg)
	if err != nil || src == nil || detail == nil {
		t.Fatalf("newSource(--policy-service) = %v, %v", src, err)
	}
	if got := detail(); got != "no policy from the policy service yet" {
		t.Errorf("detail before Run: %q", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if !strings.Contains(strings.Join(names, " "), "egress_policy_stale_seconds") {
		t.Errorf("metrics %v lack egress_policy_stale_seconds", names)
	}
}
