package redirect

import (
	"reflect"
	"strings"
	"testing"
)

func TestSetNamesTheFlag(t *testing.T) {
	tests := []struct{ flag, value, want string }{
		{FlagExcludeOutboundCIDRs, "10.0.0.0/33", `--exclude-outbound-cidrs: "10.0.0.0/33": invalid prefix`},
		{FlagIncludeOutboundCIDRs, "10.0.0.1/8", `--include-outbound-cidrs: "10.0.0.1/8": invalid prefix: host bits set`},
		{FlagIncludeOutboundCIDRs, " ", `--include-outbound-cidrs: empty: use "*"`},
		{FlagExcludeOutboundPorts, "80,0", `--exclude-outbound-ports: "0": invalid port`},
		{FlagCapturePort, "http", `--capture-port: "http": invalid port: invalid syntax`},
		{FlagDNSPort, "70000", `--dns-port: "70000": invalid port: value out of range`},
		{FlagSidecarUID, "-1", `--sidecar-uid: "-1": invalid id: invalid syntax`},
		{FlagSidecarGID, "4294967296", `--sidecar-gid: "4294967296": invalid id: value out of range`},
		{FlagIPv6, "yes", `--ipv6: "yes" is not one of auto, on, off`},
		{FlagDropUDP, "maybe", `--drop-udp: "maybe" is not a boolean`},
		{"no-such-flag", "1", `--no-such-flag: no such flag`},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		err := cfg.Set(tt.flag, tt.value)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Set(%q, %q) = %v, want an error starting with %s", tt.flag, tt.value, err, tt.want)
		}
	}
}

func TestArgsRoundTrip(t *testing.T) {
	cfg := DefaultConfig()
	for flag, value := range map[string]string{
		FlagCapturePort:          "16001",
		FlagExcludeOutboundCIDRs: "10.0.0.0/8,fd00::/8",
		FlagExcludeOutboundPorts: "25,8000-8080",
		FlagIncludeOutboundCIDRs: "203.0.113.0/24",
		FlagIPv6:                 "off",
		FlagDropUDP:              "false",
	} {
		if err := cfg.Set(flag, value); err != nil {
			t.Fatal(err)
		}
	}
	for _, start := range []Config{DefaultConfig(), cfg} {
		parsed := DefaultConfig()
		for _, arg := range start.Args() {
			name, value, ok := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
			if !ok {
				t.Fatalf("Args() produced %q, want --name=value", arg)
			}
			if err := parsed.Set(name, value); err != nil {
				t.Fatal(err)
			}
		}
		if !reflect.DeepEqual(normalize(parsed), normalize(start)) {
			t.Errorf("Args() did not round-trip:\n got %+v\nwant %+v", parsed, start)
		}
	}
}

// normalize makes empty and nil lists compare equal.
func normalize(c Config) Config {
	if len(c.ExcludeOutboundCIDRs) == 0 {
		c.ExcludeOutboundCIDRs = nil
	}
	if len(c.ExcludeOutboundPorts) == 0 {
		c.ExcludeOutboundPorts = nil
	}
	if len(c.IncludeOutboundCIDRs) == 0 {
		c.IncludeOutboundCIDRs = nil
	}
	return c
}

func TestConfigFlags(t *testing.T) {
	specs := ConfigFlags()
	if len(specs) != 9 {
		t.Errorf("ConfigFlags() has %d flags, want 9", len(specs))
	}
	defaults := DefaultConfig()
	for _, spec := range specs {
		if spec.Env != EnvVar(spec.Name) || !strings.HasPrefix(spec.Env, "EGRESS_") {
			t.Errorf("flag %s: env %q", spec.Name, spec.Env)
		}
		cfg := defaults
		if err := cfg.Set(spec.Name, spec.Default); err != nil {
			t.Errorf("flag %s: default %q does not parse: %v", spec.Name, spec.Default, err)
		}
		if spec.Usage == "" {
			t.Errorf("flag %s has no usage", spec.Name)
		}
	}
	if got := EnvVar(FlagExcludeOutboundCIDRs); got != "EGRESS_EXCLUDE_OUTBOUND_CIDRS" {
		t.Errorf("EnvVar = %q", got)
	}
}
