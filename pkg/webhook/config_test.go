package webhook

import (
	"flag"
	"strings"
	"testing"
)

func validConfig() Config {
	c := DefaultConfig()
	c.InitImage, c.SidecarImage = "registry.example/egress-init:1", "registry.example/egress-sidecar:1"
	return c
}

func TestConfigValidate(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("defaults with images: %v", err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"images missing", []string{"--init-image=", "--sidecar-image="}, []string{"--init-image: must not be empty", "--sidecar-image: must not be empty"}},
		{"bad CIDR", []string{"--exclude-outbound-cidrs=203.0.113.0/33"}, []string{`--exclude-outbound-cidrs: "203.0.113.0/33": invalid prefix`}},
		{"bad port list", []string{"--exclude-outbound-ports=80,x"}, []string{`--exclude-outbound-ports: "x": invalid port`}},
		{"port clash", []string{"--admin-port=15001"}, []string{"--admin-port: 15001 is also --capture-port"}},
		{"root sidecar", []string{"--sidecar-uid=0"}, []string{"--sidecar-uid: 0 must be a non-root UID"}},
		{"unsafe-pods", []string{"--unsafe-pods=ignore"}, []string{`--unsafe-pods: "ignore"`}},
		{"ipv6", []string{"--ipv6=maybe"}, []string{`--ipv6: "maybe"`}},
		{"pull policy", []string{"--image-pull-policy=Sometimes"}, []string{`--image-pull-policy: "Sometimes"`}},
		{"quantity", []string{"--sidecar-memory-limit=lots"}, []string{`--sidecar-memory-limit: "lots"`}},
		{"webhook port", []string{"--webhook-port=0"}, []string{"--webhook-port: 0 is not a port"}},
		{"webhook config name", []string{"--webhook-config=Bad_Name"}, []string{`--webhook-config: "Bad_Name"`}},
		{"service namespace", []string{"--service-namespace="}, []string{`--service-namespace: ""`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			c.BindFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate() = nil")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestInjectConfigFromFlags(t *testing.T) {
	c := validConfig()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse([]string{
		"--exclude-outbound-cidrs=198.18.0.0/16, 198.19.0.0/16", "--exclude-outbound-ports=5432",
		"--unsafe-pods=warn", "--excluded-namespaces=kube-system, infra", "--sidecar-cpu-request=50m",
	}); err != nil {
		t.Fatal(err)
	}
	cfg, err := c.InjectConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.ExcludeOutboundCIDRs) != 2 || cfg.ExcludeOutboundPorts[0].First != 5432 || cfg.UnsafePods != "warn" {
		t.Errorf("InjectConfig = %+v", cfg)
	}
	if strings.Join(cfg.ExcludedNamespaces, ",") != "kube-system,infra" {
		t.Errorf("ExcludedNamespaces = %v", cfg.ExcludedNamespaces)
	}
	if got := cfg.SidecarResources.Requests.Cpu().String(); got != "50m" {
		t.Errorf("sidecar CPU request = %s", got)
	}
}
