package main

import (
	"flag"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"egress.io/egress/internal/docsection"
	"egress.io/egress/internal/settingstest"
	"egress.io/egress/pkg/netrange"
	"egress.io/egress/pkg/redirect"
	"egress.io/egress/pkg/settings"
)

var update = flag.Bool("update", false, "rewrite testdata/help.golden and the flag table of docs/egress-init.md")

func TestParseOptionsDefaults(t *testing.T) {
	opts, err := parseOptions(nil, settings.NoEnv)
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
	opts, err := parseOptions([]string{"--capture-port=17001", "--drop-udp", "--exclude-outbound-ports", "25,8000-8080"}, settings.EnvMap(vars))
	if err != nil {
		t.Fatal(err)
	}
	want := redirect.DefaultConfig()
	want.CapturePort = 17001 // flag over env
	want.DNSPort = 16053     // env
	want.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	want.ExcludeOutboundPorts = []netrange.PortRange{{First: 25, Last: 25}, {First: 8000, Last: 8080}}
	want.DropUDP = true // bare boolean flag over env
	if !reflect.DeepEqual(opts.config, want) {
		t.Errorf("config\n got %+v\nwant %+v", opts.config, want)
	}
	if !opts.dryRun {
		t.Error("EGRESS_DRY_RUN=true did not set --dry-run")
	}
}

// TestEnvAgreesWithFlags checks every flag of egress-init against its EGRESS_* variable.
func TestEnvAgreesWithFlags(t *testing.T) {
	settingstest.EnvAgreesWithFlags(t, func() (*options, []settings.Flag) {
		o := defaultOptions()
		return &o, o.flags()
	}, map[string][2]string{
		redirect.FlagCapturePort:          {"16001", "17001"},
		redirect.FlagDNSPort:              {"16053", "17053"},
		redirect.FlagSidecarUID:           {"1337", "1338"},
		redirect.FlagSidecarGID:           {"1337", "1338"},
		redirect.FlagExcludeOutboundCIDRs: {"10.0.0.0/8", "fd00::/8"},
		redirect.FlagExcludeOutboundPorts: {"25", "8000-8080"},
		redirect.FlagIncludeOutboundCIDRs: {"203.0.113.0/24", "*"},
		redirect.FlagIPv6:                 {"off", "on"},
		redirect.FlagDropUDP:              {"false", "true"},
		flagDryRun:                        {"true", "false"},
		flagCleanup:                       {"true", "false"},
	})
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
			`--exclude-outbound-cidrs (from EGRESS_EXCLUDE_OUTBOUND_CIDRS): "10.0.0.1/8": invalid prefix: host bits set (did you mean 10.0.0.0/8?)`},
		{"bad port", []string{"--exclude-outbound-ports=80,0"}, nil, `--exclude-outbound-ports: "0": port 0 is out of range 1-65535`},
		{"bad bool env", nil, map[string]string{"EGRESS_CLEANUP": "maybe"}, `--cleanup (from EGRESS_CLEANUP): "maybe" is not a boolean`},
		{"validation", []string{"--dns-port=15001"}, nil, "--dns-port: 15001 is also --capture-port"},
		{"root uid", []string{"--sidecar-uid=0"}, nil, "--sidecar-uid: 0 (root)"},
		{"both actions", []string{"--dry-run", "--cleanup"}, nil, "--dry-run and --cleanup exclude each other"},
		{"argument", []string{"apply"}, nil, `unexpected argument "apply"`},
		{"unknown flag", []string{"--capture"}, nil, "unknown flag --capture"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptions(tt.args, settings.EnvMap(tt.vars))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseOptions error = %v, want it to contain %s", err, tt.want)
			}
		})
	}
}

func TestRunReportsBadFlagsOnOneLine(t *testing.T) {
	var stdout, stderr, exit strings.Builder
	err := run([]string{"--exclude-outbound-cidrs=10.0.0.0/33", "--ipv6=maybe"}, settings.NoEnv, &stdout, &stderr)
	if code := settings.Exit("egress-init", err, &exit); code != settings.ExitUsage {
		t.Errorf("exit code %d, want %d", code, settings.ExitUsage)
	}
	want := `egress-init: --exclude-outbound-cidrs: "10.0.0.0/33": invalid prefix: length 33 exceeds 32; ` +
		`--ipv6: "maybe" is not auto, on or off` + "\n"
	if exit.String() != want {
		t.Errorf("stderr = %q, want %q", exit.String(), want)
	}

	exit.Reset()
	err = run([]string{"--dns-port=15001", "--sidecar-uid=0"}, settings.NoEnv, &stdout, &stderr)
	settings.Exit("egress-init", err, &exit)
	want = "egress-init: --dns-port: 15001 is also --capture-port, so DNS over TCP could not be told from other TCP; " +
		"--sidecar-uid: 0 (root) would let every root process bypass interception\n"
	if exit.String() != want {
		t.Errorf("stderr = %q, want %q", exit.String(), want)
	}
	if stdout.Len() != 0 || stderr.Len() != 0 {
		t.Errorf("bad flags wrote %q to stdout and %q to stderr before failing", stdout.String(), stderr.String())
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		var stdout, stderr strings.Builder
		if err := run([]string{arg}, settings.NoEnv, &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if stderr.Len() != 0 {
			t.Errorf("%s wrote to stderr: %q", arg, stderr.String())
		}
		settingstest.Golden(t, "testdata/help.golden", stdout.String(), *update, "go test ./cmd/egress-init -short -update")
	}
}

func TestDocsFlagTable(t *testing.T) {
	defaults := defaultOptions()
	err := docsection.Check("../../docs/egress-init.md", "flag table", "go test ./cmd/egress-init -short -update",
		settings.MarkdownTable(defaults.flags()), *update)
	if err != nil {
		t.Error(err)
	}
}
