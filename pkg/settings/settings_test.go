package settings

import (
	"errors"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"egress.io/egress/pkg/netrange"
)

// testConfig has one field of every kind of Value.
type testConfig struct {
	Name     string
	On       bool
	Count    int
	Wait     time.Duration
	Port     uint16
	UID      uint32
	Ports    []uint16
	Ranges   []netrange.PortRange
	CIDRs    []netip.Prefix
	Addrs    []netip.Addr
	Names    []string
	Level    slog.Level
	Mode     mode
	Pod      string
	Explicit uint16
}

type mode string

func defaults() testConfig {
	return testConfig{Name: "a", Wait: time.Second, Port: 15001, UID: 2555, Ports: []uint16{22}, Mode: "auto", Explicit: 7}
}

func (c *testConfig) flags() []Flag {
	return []Flag{
		{Name: "name", Value: String(&c.Name, "NAME"), Usage: "a name"},
		{Name: "on", Value: Bool(&c.On), Usage: "a switch"},
		{Name: "count", Value: Int(&c.Count), Usage: "a count"},
		{Name: "wait", Value: Duration(&c.Wait), Usage: "a wait"},
		{Name: "port", Value: Port(&c.Port), Usage: "a port"},
		{Name: "uid", Value: ID(&c.UID), Usage: "an ID"},
		{Name: "ports", Value: Ports(&c.Ports), Usage: "ports"},
		{Name: "ranges", Value: PortRanges(&c.Ranges), Usage: "ranges"},
		{Name: "cidrs", Value: Prefixes(&c.CIDRs), Usage: "prefixes", DefaultText: "none"},
		{Name: "addrs", Value: Addrs(&c.Addrs), Usage: "addresses"},
		{Name: "names", Value: Strings(&c.Names, "NAMES"), Usage: "names"},
		{Name: "level", Value: LogLevel(&c.Level), Usage: "a level"},
		{Name: "mode", Value: OneOf(&c.Mode, "auto", "on", "off"), Usage: "a mode"},
		{Name: "pod", Value: String(&c.Pod, "NAME"), Usage: "the pod", Aliases: []string{"POD_NAME"}},
		{Name: "explicit", Value: Port(&c.Explicit), Usage: "always written", Explicit: true},
	}
}

func parse(t *testing.T, args []string, env map[string]string) (testConfig, error) {
	t.Helper()
	c := defaults()
	return c, Parse(c.flags(), args, EnvMap(env))
}

func TestEnvVar(t *testing.T) {
	if got := EnvVar("exclude-outbound-cidrs"); got != "EGRESS_EXCLUDE_OUTBOUND_CIDRS" {
		t.Errorf("EnvVar = %q", got)
	}
}

func TestParseEveryKind(t *testing.T) {
	c := defaults()
	err := Parse(c.flags(), []string{
		"--name=b", "--on", "-count", "3", "--wait=1m30s", "--port", "80", "--uid=0", "--ports=25, 22,25",
		"--ranges=25,8000-8080", "--cidrs=10.0.0.0/8,fd00::/8", "--addrs=127.0.0.1,::ffff:10.0.0.1",
		"--names=a, b", "--level=debug", "--mode=off", "--pod=p", "--explicit=8",
	}, NoEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := testConfig{
		Name: "b", On: true, Count: 3, Wait: 90 * time.Second, Port: 80, UID: 0, Ports: []uint16{25, 22},
		Ranges: []netrange.PortRange{{First: 25, Last: 25}, {First: 8000, Last: 8080}},
		CIDRs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")},
		Addrs:  []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.0.1")},
		Names:  []string{"a", "b"}, Level: slog.LevelDebug, Mode: "off", Pod: "p", Explicit: 8,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("parsed\n %+v\nwant\n %+v", c, want)
	}
}

func TestArgsRoundTrip(t *testing.T) {
	d := defaults()
	if args := Args(d.flags(), d.flags()); !reflect.DeepEqual(args, []string{"--explicit=7"}) {
		t.Errorf("Args(defaults) = %q, want only the explicit flag", args)
	}
	c := defaults()
	if err := Parse(c.flags(), []string{"--on", "--count=3", "--ports=", "--cidrs=10.0.0.0/8", "--level=warn", "--mode=on"}, NoEnv); err != nil {
		t.Fatal(err)
	}
	args := Args(c.flags(), d.flags())
	want := []string{"--on=true", "--count=3", "--ports=", "--cidrs=10.0.0.0/8", "--level=warn", "--mode=on", "--explicit=7"}
	if !reflect.DeepEqual(args, want) {
		t.Errorf("Args = %q, want %q", args, want)
	}
	back := defaults()
	if err := Parse(back.flags(), args, NoEnv); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip\n got %+v\nwant %+v", back, c)
	}
}

func TestFlagWinsOverEnvWinsOverAlias(t *testing.T) {
	env := map[string]string{"EGRESS_PORT": "81", "EGRESS_COUNT": "4", "POD_NAME": "from-alias", "EGRESS_NAMES": ""}
	c, err := parse(t, []string{"--port=82"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 82 || c.Count != 4 || c.Pod != "from-alias" || c.Names != nil {
		t.Errorf("got %+v", c)
	}
	env["EGRESS_POD"] = "from-egress"
	if c, _ := parse(t, nil, env); c.Pod != "from-egress" {
		t.Errorf("EGRESS_POD did not win over POD_NAME: %q", c.Pod)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--port=x"}, nil, `--port: port "x" is not a number from 1 to 65535`},
		{[]string{"--port=0", "--count=x"}, nil, "--port: port 0 is out of range 1-65535\n--count: \"x\" is not a whole number"},
		{nil, map[string]string{"EGRESS_WAIT": "soon"}, `--wait (from EGRESS_WAIT): "soon" is not a duration`},
		{nil, map[string]string{"POD_NAME": "p", "EGRESS_ON": "maybe"}, `--on (from EGRESS_ON): "maybe" is not a boolean`},
		{[]string{"--mode=sometimes"}, nil, `--mode: "sometimes" is not auto, on or off`},
		{[]string{"--cidrs=10.0.0.1/8"}, nil, `--cidrs: "10.0.0.1/8": invalid prefix: host bits set`},
		{[]string{"--nope"}, nil, "unknown flag --nope"},
		{[]string{"--port"}, nil, "--port: needs a value (PORT)"},
		{[]string{"apply"}, nil, `unexpected argument "apply": flags only`},
		{[]string{"--", "x"}, nil, `unexpected argument "x"`},
		{[]string{"--uid=-1"}, nil, `--uid: "-1" is not an ID`},
		{[]string{"--level=loud"}, nil, `--level: "loud" is not a log level`},
	}
	for _, tt := range tests {
		_, err := parse(t, tt.args, tt.env)
		var usage *UsageError
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.As(err, &usage) {
			t.Errorf("Parse(%q, %v) = %v, want a UsageError starting with %q", tt.args, tt.env, err, tt.want)
		}
	}
	for _, help := range []string{"-h", "--help", "-help"} {
		if _, err := parse(t, []string{"--port=1", help}, nil); !errors.Is(err, ErrHelp) {
			t.Errorf("%s: %v", help, err)
		}
	}
	c := defaults()
	if err := Parse(append(c.flags(), c.flags()[0]), nil, NoEnv); err == nil {
		t.Error("a flag defined twice was accepted")
	}
}

func TestUsage(t *testing.T) {
	c := defaults()
	var b strings.Builder
	if err := Usage(&b, Command{Name: "demo", Synopsis: "[flags]", Description: "Does things."}, c.flags()[:2]); err != nil {
		t.Fatal(err)
	}
	want := `Usage: demo [flags]

Does things.

Every flag can also be set by the environment variable named beside it; a flag on the command line
wins over its variable, and a variable over the default.

Flags:
  --name NAME  [EGRESS_NAME]  (default a)
      a name
  --on  [EGRESS_ON]  (default false)
      a switch
`
	if b.String() != want {
		t.Errorf("Usage:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestMarkdownTable(t *testing.T) {
	c := defaults()
	got := MarkdownTable(Select(c.flags(), "cidrs", "pod", "mode"))
	want := "| flag | environment variable | default | meaning |\n| --- | --- | --- | --- |\n" +
		"| `--cidrs` | `EGRESS_CIDRS` | none | prefixes |\n" +
		"| `--pod` | `EGRESS_POD`, `POD_NAME` |  | the pod |\n" +
		"| `--mode` | `EGRESS_MODE` | `auto` | a mode |\n"
	if got != want {
		t.Errorf("MarkdownTable:\n%s\nwant:\n%s", got, want)
	}
}

func TestWrap(t *testing.T) {
	got := wrap(strings.Repeat("word ", 30), "  ", 40)
	for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if len(line) > 40 || !strings.HasPrefix(line, "  word") {
			t.Errorf("line %q", line)
		}
	}
}

func TestExit(t *testing.T) {
	var b strings.Builder
	if code := Exit("cmd", nil, &b); code != ExitOK || b.Len() != 0 {
		t.Errorf("nil: %d %q", code, b.String())
	}
	if code := Exit("cmd", ErrHelp, &b); code != ExitOK || b.Len() != 0 {
		t.Errorf("help: %d %q", code, b.String())
	}
	if code := Exit("cmd", Invalid(errors.Join(errors.New("--a: bad"), errors.New("--b: worse"))), &b); code != ExitUsage || b.String() != "cmd: --a: bad; --b: worse\n" {
		t.Errorf("usage: %d %q", code, b.String())
	}
	b.Reset()
	if code := Exit("cmd", errors.New("iptables: failed\n\nline two\n"), &b); code != ExitFailure || b.String() != "cmd: iptables: failed; line two\n" {
		t.Errorf("failure: %d %q", code, b.String())
	}
}
