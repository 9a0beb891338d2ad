package main

import (
	"errors"
	"flag"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"egress.io/egress/pkg/redirect"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func TestParseOptionsDefaults(t *testing.T) {
	opts, err := parseOptions(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(opts.config, redirect.DefaultConfig()) || opts.dryRun || opts.cleanup {
		t.Errorf("no flags gave %+v, want the defaults", opts)
	}
}

func TestParseOptionsFlagWinsOverEnv(t *testing.T) {
	vars := map[string]string{
		"EGRESS_CAPTURE_PORT":           "16001",
		"EGRESS_DNS_PORT":               "16053",
		"EGRESS_EXCLUDE_OUTBOUND_CIDRS": "10.0.0.0/8,fd00::/8",
		"EGRESS_DROP_UDP":               "false",
		"EGRESS_DRY_RUN":                "true",
	}
	opts, err := parseOptions([]string{"--capture-port=17001", "--drop-udp", "--exclude-outbound-ports", "25,8000-8080"}, env(vars), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := redirect.DefaultConfig()
	want.CapturePort = 17001 // flag over env
	want.DNSPort = 16053     // env
	want.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	want.ExcludeOutboundPorts = []redirect.PortRange{{First: 25, Last: 25}, {First: 8000, Last: 8080}}
	want.DropUDP = true // bare boolean flag over env
	if !reflect.DeepEqual(opts.config, want) {
		t.Errorf("config\n got %+v\nwant %+v", opts.config, want)
	}
	if !opts.dryRun {
		t.Error("EGRESS_DRY_RUN=true did not set --dry-run")
	}
}

func TestParseOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want string
	}{
		{"bad cidr flag", []string{"--exclude-outbound-cidrs=10.0.0.0/33"}, nil,
			`--exclude-outbound-cidrs: "10.0.0.0/33": invalid prefix: length 33 exceeds 32`},
		{"bad cidr env", nil, map[string]string{"EGRESS_EXCLUDE_OUTBOUND_CIDRS": "10.0.0.1/8"},
			`--exclude-outbound-cidrs: "10.0.0.1/8": invalid prefix: host bits set (did you mean 10.0.0.0/8?) (set by EGRESS_EXCLUDE_OUTBOUND_CIDRS)`},
		{"bad port", []string{"--exclude-outbound-ports=80,0"}, nil, `--exclude-outbound-ports: "0": invalid port`},
		{"bad bool env", nil, map[string]string{"EGRESS_CLEANUP": "maybe"}, `EGRESS_CLEANUP="maybe": invalid value for --cleanup`},
		{"validation", []string{"--dns-port=15001"}, nil, "--dns-port: 15001 is also --capture-port"},
		{"root uid", []string{"--sidecar-uid=0"}, nil, "--sidecar-uid: 0 (root)"},
		{"both actions", []string{"--dry-run", "--cleanup"}, nil, "--dry-run and --cleanup exclude each other"},
		{"argument", []string{"apply"}, nil, `unexpected argument "apply"`},
		{"unknown flag", []string{"--capture"}, nil, "flag provided but not defined: -capture"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptions(tt.args, env(tt.vars), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseOptions error = %v, want it to contain %s", err, tt.want)
			}
		})
	}
}

func TestRunReportsBadFlagsOnOneLine(t *testing.T) {
	var stdout, stderr strings.Builder
	code := run([]string{"--exclude-outbound-cidrs=10.0.0.0/33", "--ipv6=maybe"}, env(nil), &stdout, &stderr)
	if code != exitUsage {
		t.Errorf("exit code %d, want %d", code, exitUsage)
	}
	want := `egress-init: --exclude-outbound-cidrs: "10.0.0.0/33": invalid prefix: length 33 exceeds 32` + "\n"
	if stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}

	stderr.Reset()
	run([]string{"--dns-port=15001", "--sidecar-uid=0"}, env(nil), &stdout, &stderr)
	want = "egress-init: --dns-port: 15001 is also --capture-port, so DNS over TCP could not be told from other TCP; " +
		"--sidecar-uid: 0 (root) would let every root process bypass interception\n"
	if stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
}

func TestRunReportsUnknownFlagsOnOneLine(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run([]string{"--capture"}, env(nil), &stdout, &stderr); code != exitUsage {
		t.Errorf("exit code %d, want %d", code, exitUsage)
	}
	if want := "egress-init: flag provided but not defined: -capture (see egress-init -h)\n"; stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run([]string{"-h"}, env(nil), &stdout, &stderr); code != exitOK {
		t.Errorf("-h exit code %d", code)
	}
	for _, spec := range redirect.ConfigFlags() {
		if !strings.Contains(stderr.String(), "-"+spec.Name) || !strings.Contains(stderr.String(), spec.Env) {
			t.Errorf("usage does not mention --%s and %s:\n%s", spec.Name, spec.Env, stderr.String())
		}
	}
	_, err := parseOptions([]string{"-help"}, env(nil), io.Discard)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v", err)
	}
}

func TestOneLine(t *testing.T) {
	err := errors.New("adding rule: exit status 2: Warning: Extension REDIRECT revision 0 not supported\n\niptables v1.8.9: RULE_APPEND failed\n")
	want := "adding rule: exit status 2: Warning: Extension REDIRECT revision 0 not supported; iptables v1.8.9: RULE_APPEND failed"
	if got := oneLine(err); got != want {
		t.Errorf("oneLine = %q, want %q", got, want)
	}
}
