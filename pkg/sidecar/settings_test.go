package sidecar

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"egress.io/egress/pkg/settings"
)

// changedSettings has, for every flag of Settings, a valid value other than the default.
var changedSettings = map[string]string{
	FlagCapturePort: "16001", FlagDNSPort: "16053", FlagListenAddrs: "127.0.0.1", FlagAdminAddr: "127.0.0.1:16020",
	FlagRulesFile: "/etc/egress/rules.yaml", FlagKube: "true", FlagKubeconfig: "/k", FlagPodName: "app",
	FlagPodNamespace: "shop", FlagGlobalNamespace: "egress-global", FlagPodLabelsFile: "/etc/labels",
	FlagLogLevel: "debug", FlagSniffTimeout: "1s", FlagSniffBytes: "1024", FlagServerFirstPorts: "",
	FlagConnectTimeout: "1s", FlagTLSHandshakeTimeout: "2s", FlagResponseHeaderTimeout: "3s",
	FlagIdleTimeout: "4s", FlagCABundle: "/ca.pem", FlagUpstreamDNS: "198.18.0.2,198.18.0.3:5353",
	FlagDNSTimeout: "5s", FlagLocalSuffix: "egress.test", FlagDenyCIDRs: "10.96.0.0/12,fd00::/8",
	FlagPublicCIDRs: "198.18.0.0/24", FlagNAT64Prefixes: "", FlagMaxHostLabels: "7", FlagLogAllowed: "true",
	FlagDecisionsBuffer: "0", FlagDrainTimeout: "0s", FlagClusterDomain: "cluster.test", FlagPolicyService: "https://egress-policy.example:8443",
	FlagPolicyTokenFile: "/t/token", FlagPolicyCAFile: "/t/ca.crt",
	FlagGatewayTokenFile: "/g/token", FlagGatewayCAFile: "/g/ca.crt", FlagGatewayPort: "1443", FlagGatewayAddresses: "partners=198.18.0.1:1443",
}

// TestSettingsArgsRoundTrip changes every field of Settings from its default, one at a time and all at
// once, and parses Args back into the defaults; the defaults round-trip too.
func TestSettingsArgsRoundTrip(t *testing.T) {
	defaults := DefaultSettings()
	all := DefaultSettings()
	allFlags := all.Flags()
	cases := map[string]Settings{"defaults": DefaultSettings()}
	for _, f := range defaults.Flags() {
		value, ok := changedSettings[f.Name]
		if !ok {
			t.Errorf("--%s is not changed by this test; add it to changedSettings", f.Name)
			continue
		}
		s := DefaultSettings()
		if err := settings.Parse(settings.Select(s.Flags(), f.Name), []string{"--" + f.Name + "=" + value}, settings.NoEnv); err != nil {
			t.Fatal(err)
		}
		if reflect.DeepEqual(s, DefaultSettings()) {
			t.Errorf("--%s=%q is the default", f.Name, value)
		}
		cases[f.Name] = s
		if err := settings.Parse(settings.Select(allFlags, f.Name), []string{"--" + f.Name + "=" + value}, settings.NoEnv); err != nil {
			t.Fatal(err)
		}
	}
	cases["all"] = all
	for name, s := range cases {
		back := DefaultSettings()
		if err := settings.Parse(back.Flags(), s.Args(), settings.NoEnv); err != nil {
			t.Errorf("%s: Args() = %q: %v", name, s.Args(), err)
			continue
		}
		if !reflect.DeepEqual(back, s) {
			t.Errorf("%s: Args() = %q parse to\n %+v\nwant\n %+v", name, s.Args(), back, s)
		}
	}
}

// TestSettingsArgsOfDefaults: the defaults are written as the flags others must agree with, and nothing
// else.
func TestSettingsArgsOfDefaults(t *testing.T) {
	got := DefaultSettings().Args()
	want := []string{"--capture-port=15001", "--dns-port=15053", "--admin-addr=0.0.0.0:15020", "--global-namespace=egress-system"}
	if !slices.Equal(got, want) {
		t.Errorf("Args() = %q, want %q", got, want)
	}
}

func TestSettingsValidateNamesThePolicySource(t *testing.T) {
	s := DefaultSettings()
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "--policy-service, --kube or --rules-file is required") {
		t.Errorf("Validate() without a source = %v", err)
	}
	s.RulesFile, s.Kube = "/r", true
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "--rules-file and --kube exclude each other") {
		t.Errorf("Validate() with both sources = %v", err)
	}
	s.RulesFile, s.Kube, s.PolicyService = "", true, "https://egress-policy.egress-system.svc"
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "--kube and --policy-service exclude each other") {
		t.Errorf("Validate() with two sources = %v", err)
	}
	s.Kube = false
	if err := s.Validate(); err != nil {
		t.Errorf("Validate() with the policy service: %v", err)
	}
	for _, bad := range []string{"http://x", "https://", "https://x/v1/policy", "https://x?a=b", "x:443"} {
		s.PolicyService = bad
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "--policy-service: "+`"`+bad+`": want https://HOST[:PORT]`) {
			t.Errorf("Validate() with --policy-service=%s: %v", bad, err)
		}
	}
	s.PolicyService, s.PolicyTokenFile, s.PolicyCAFile = "https://x", "", ""
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "--policy-token-file: must not be empty") || !strings.Contains(err.Error(), "--policy-ca-file: must not be empty") {
		t.Errorf("Validate() without token and CA files: %v", err)
	}
}
