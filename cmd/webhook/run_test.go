package main

import (
	"context"
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"egress.io/egress/internal/docsection"
	"egress.io/egress/internal/settingstest"
	"egress.io/egress/pkg/settings"
	"egress.io/egress/pkg/webhook"
)

var update = flag.Bool("update", false, "rewrite testdata/help.golden and the flag table of docs/webhook.md")

func TestHelp(t *testing.T) {
	var stdout, stderr strings.Builder
	if err := run(context.Background(), []string{"--help"}, settings.NoEnv, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Errorf("--help wrote to stderr: %q", stderr.String())
	}
	settingstest.Golden(t, "testdata/help.golden", stdout.String(), *update, "go test ./cmd/webhook -short -update")
}

func TestDocsFlagTable(t *testing.T) {
	defaults := defaultConfig()
	err := docsection.Check("../../docs/webhook.md", "flag table", "go test ./cmd/webhook -short -update",
		settings.MarkdownTable(defaults.Flags()), *update)
	if err != nil {
		t.Error(err)
	}
}

// webhookSamples are two valid values of every webhook flag, the first not the default.
var webhookSamples = map[string][2]string{
	"init-image":                {"registry.example/init:1", "registry.example/init:2"},
	"sidecar-image":             {"registry.example/sidecar:1", "registry.example/sidecar:2"},
	"image-pull-policy":         {"Always", "Never"},
	"capture-port":              {"16001", "17001"},
	"dns-port":                  {"16053", "17053"},
	"sidecar-uid":               {"1337", "1338"},
	"sidecar-gid":               {"1337", "1338"},
	"exclude-outbound-cidrs":    {"10.0.0.0/8", "fd00::/8"},
	"exclude-outbound-ports":    {"5432", "8000-8100"},
	"include-outbound-cidrs":    {"203.0.113.0/24", "*"},
	"ipv6":                      {"off", "on"},
	"drop-udp":                  {"false", "true"},
	"global-namespace":          {"egress-global", "other"},
	"public-cidrs":              {"198.18.0.0/24", "100.64.0.0/10"},
	"nat64-prefixes":            {"", "64:ff9b:1::/96"},
	"admin-port":                {"16020", "17020"},
	"excluded-namespaces":       {"kube-system", ""},
	"unsafe-pods":               {"warn", "reject"},
	"sidecar-cpu-request":       {"50m", "100m"},
	"sidecar-memory-request":    {"64Mi", "128Mi"},
	"sidecar-memory-limit":      {"512Mi", "1Gi"},
	"webhook-host":              {"127.0.0.1", "::1"},
	"webhook-port":              {"10443", "11443"},
	"cert-dir":                  {"/tmp/certs", "/etc/certs"},
	"static-certs":              {"true", "false"},
	"cert-secret":               {"certs-a", "certs-b"},
	"webhook-config":            {"config-a", "config-b"},
	"service-name":              {"service-a", "service-b"},
	"service-namespace":         {"namespace-a", "namespace-b"},
	"metrics-bind-address":      {"0", "127.0.0.1:9090"},
	"health-probe-bind-address": {"127.0.0.1:9091", "127.0.0.1:9092"},
	"leader-elect":              {"false", "true"},
	"leader-election-id":        {"lease-a", "lease-b"},
	"kubeconfig":                {"/k1", "/k2"},
	"log-level":                 {"debug", "warn"},
	"policy-service":            {"https://policy-a", "https://policy-b:8443"},
	"policy-source":             {"kube", "service"},
	"policy-token-expiration":   {"20m", "2h"},
	"policy-port":               {"0", "10444"},
	"policy-service-name":       {"policy-a", "policy-b"},
	"policy-max-streams":        {"100", "200"},
}

func TestEnvAgreesWithFlags(t *testing.T) {
	settingstest.EnvAgreesWithFlags(t, func() (*webhook.Config, []settings.Flag) {
		cfg := defaultConfig()
		return &cfg, cfg.Flags()
	}, webhookSamples)
}

// TestDeploymentEnvNamesTheImages: the Deployment's EGRESS_INIT_IMAGE and EGRESS_SIDECAR_IMAGE are the
// variables of --init-image and --sidecar-image, so the flags may be left out.
func TestImagesFromTheEnvironment(t *testing.T) {
	cfg, err := parseConfig(nil, settings.EnvMap(map[string]string{
		"EGRESS_INIT_IMAGE": "registry.example/init:1", "EGRESS_SIDECAR_IMAGE": "registry.example/sidecar:1",
	}))
	if err != nil || cfg.Inject.InitImage != "registry.example/init:1" || cfg.Inject.SidecarImage != "registry.example/sidecar:1" {
		t.Errorf("parseConfig = %+v, %v", cfg.Inject, err)
	}
}

func TestBadFlagsNameTheFlag(t *testing.T) {
	images := []string{"--init-image=registry.example/init:1", "--sidecar-image=registry.example/sidecar:1"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"images missing", nil, nil, []string{"--init-image: must not be empty", "--sidecar-image: must not be empty"}},
		{"bad CIDR", []string{"--exclude-outbound-cidrs=203.0.113.0/33"}, nil, []string{`--exclude-outbound-cidrs: "203.0.113.0/33": invalid prefix`}},
		{"bad port list", []string{"--exclude-outbound-ports=80,x"}, nil, []string{`--exclude-outbound-ports: "x": port "x" is not a number`}},
		{"port clash", []string{"--admin-port=15001"}, nil, []string{"--admin-port: 15001 is also --capture-port"}},
		{"dns port clash", []string{"--dns-port=15001"}, nil, []string{"--dns-port: 15001 is also --capture-port"}},
		{"root sidecar", []string{"--sidecar-uid=0"}, nil, []string{"--sidecar-uid: 0 (root)"}},
		{"uid too big", []string{"--sidecar-gid=2147483648"}, nil, []string{"--sidecar-gid: 2147483648 is above 2147483647"}},
		{"unsafe-pods", []string{"--unsafe-pods=ignore"}, nil, []string{`--unsafe-pods: "ignore" is not reject or warn`}},
		{"ipv6", []string{"--ipv6=maybe"}, nil, []string{`--ipv6: "maybe" is not auto, on or off`}},
		{"pull policy", []string{"--image-pull-policy=Sometimes"}, nil, []string{`--image-pull-policy: "Sometimes" is not Always, IfNotPresent or Never`}},
		{"quantity", []string{"--sidecar-memory-limit=lots"}, nil, []string{`--sidecar-memory-limit: "lots" is not a quantity`}},
		{"public cidrs", []string{"--public-cidrs=127.0.0.0/8"}, nil, []string{"--public-cidrs: "}},
		{"global namespace", []string{"--global-namespace="}, nil, []string{"--global-namespace: must not be empty"}},
		{"webhook port", []string{"--webhook-port=0"}, nil, []string{"--webhook-port: port 0 is out of range"}},
		{"webhook config name", []string{"--webhook-config=Bad_Name"}, nil, []string{`--webhook-config: "Bad_Name"`}},
		{"service namespace", []string{"--service-namespace="}, nil, []string{`--service-namespace: ""`}},
		{"from the environment", nil, map[string]string{"EGRESS_WEBHOOK_PORT": "tcp://10.96.0.7:443"}, []string{`--webhook-port (from EGRESS_WEBHOOK_PORT): port "tcp://10.96.0.7:443" is not a number`}},
		{"policy port clash", []string{"--policy-port=9443"}, nil, []string{"--policy-port: 9443 is also --webhook-port"}},
		{"policy source", []string{"--policy-source=file"}, nil, []string{`--policy-source: "file" is not service or kube`}},
		{"policy URL", []string{"--policy-service=egress-policy:443"}, nil, []string{`--policy-service: "egress-policy:443": want https://HOST[:PORT]`}},
		{"policy token", []string{"--policy-token-expiration=1m"}, nil, []string{"--policy-token-expiration: 1m0s is under the API server's minimum of 10m"}},
		{"policy streams", []string{"--policy-max-streams=0"}, nil, []string{"--policy-max-streams: 0: must be at least 1"}},
		{"unknown flag", []string{"-v"}, nil, []string{"unknown flag -v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.name != "images missing" {
				args = append(append([]string{}, images...), args...)
			}
			var stdout, stderr strings.Builder
			err := run(context.Background(), args, settings.EnvMap(tt.env), &stdout, &stderr)
			var usage *settings.UsageError
			if !errors.As(err, &usage) {
				t.Fatalf("run = %v, want a usage error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("run = %q; want it to contain %q", err, w)
				}
			}
			if stdout.Len() != 0 || stderr.Len() != 0 {
				t.Errorf("bad flags wrote %q and %q before failing", stdout.String(), stderr.String())
			}
		})
	}
}

func TestRunWithoutCredentialsNamesKubeconfig(t *testing.T) {
	dir := t.TempDir()
	err := run(context.Background(), []string{
		"--init-image=registry.example/init:1", "--sidecar-image=registry.example/sidecar:1",
		"--kubeconfig=" + filepath.Join(dir, "missing"),
	}, settings.NoEnv, &strings.Builder{}, &strings.Builder{})
	if err == nil || !strings.HasPrefix(err.Error(), "--kubeconfig: ") {
		t.Errorf("run with a missing kubeconfig = %v", err)
	}
}
