package main

import (
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{
		"--rules-file", "/etc/egress/rules.yaml",
		"--upstream-dns", "198.18.0.2, 198.18.0.3:5353",
		"--server-first-ports", "22,2222,22",
		"--deny-cidrs", "10.96.0.0/12,fd00::/8",
		"--listen-addrs", "127.0.0.1",
		"--drain-timeout", "3s",
	}, env(map[string]string{
		"EGRESS_DRAIN_TIMEOUT":   "9s", // the flag wins
		"EGRESS_MAX_HOST_LABELS": "7",
		"EGRESS_LOG_ALLOWED":     "true",
		"POD_NAMESPACE":          "shop",
		"POD_NAME":               "checkout-1",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if o.rulesFile != "/etc/egress/rules.yaml" || o.podName != "checkout-1" || c.Pod.Namespace != "shop" {
		t.Errorf("options %+v", o)
	}
	if strings.Join(c.UpstreamDNS, " ") != "198.18.0.2:53 198.18.0.3:5353" {
		t.Errorf("upstream DNS %q", c.UpstreamDNS)
	}
	if len(c.ServerFirstPorts) != 2 || c.ServerFirstPorts[1] != 2222 {
		t.Errorf("server-first ports %v", c.ServerFirstPorts)
	}
	if len(c.DenyCIDRs) != 2 || c.DenyCIDRs[1] != netip.MustParsePrefix("fd00::/8") {
		t.Errorf("deny CIDRs %v", c.DenyCIDRs)
	}
	if c.DrainTimeout != 3*time.Second || c.MaxHostLabels != 7 || !c.LogAllowed || len(c.ListenAddrs) != 1 {
		t.Errorf("config %+v", c)
	}
}

func TestParseFlagsErrorsNameTheFlag(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "--rules-file or --kube is required"},
		{[]string{"--rules-file", "r", "--kube"}, nil, "exclude each other"},
		{[]string{"--kube"}, nil, "--pod-namespace"},
		{[]string{"--rules-file", "r", "--capture-port", "0"}, nil, "capture-port"},
		{[]string{"--rules-file", "r", "--deny-cidrs", "10.1.2.3/8"}, nil, "host bits"},
		{[]string{"--rules-file", "r"}, map[string]string{"EGRESS_SNIFF_BYTES": "x"}, "--sniff-bytes (from EGRESS_SNIFF_BYTES)"},
		{[]string{"--rules-file", "r", "--sniff-timeout", "0s"}, nil, "--sniff-timeout"},
		{[]string{"--rules-file", "r", "extra"}, nil, "unexpected argument"},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, env(tt.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

func TestKubeSourceNeedsCredentials(t *testing.T) {
	o, err := parseFlags([]string{"--kube", "--pod-namespace", "shop", "--kubeconfig", "/nonexistent/kubeconfig"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newSource(o, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--kube") {
		t.Errorf("newSource(--kube with a missing kubeconfig) = %v", err)
	}
}
