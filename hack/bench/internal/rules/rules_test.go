package rules

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"egress.io/egress/pkg/policy"
)

func TestYAMLCompilesToExactlyNTargets(t *testing.T) {
	for _, n := range []int{1, 100, 10000} {
		text, err := YAML([]string{"api.example.test:443"}, n)
		if err != nil {
			t.Fatal(err)
		}
		sets, err := policy.LoadRuleSets(strings.NewReader(text), "bench.yaml")
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if want := (n + MaxTargetsPerSet - 1) / MaxTargetsPerSet; len(sets) != want {
			t.Errorf("n=%d: %d rule sets, want %d", n, len(sets), want)
		}
		m, problems := policy.Compile(sets)
		if len(problems) > 0 {
			t.Fatalf("n=%d: %v", n, problems[0])
		}
		if m.Targets() != n {
			t.Errorf("n=%d: matcher has %d targets", n, m.Targets())
		}
		if d := m.Decide("api.example.test", netip.Addr{}, 443); d.Action != policy.Allow {
			t.Errorf("n=%d: api.example.test:443 not allowed: %+v", n, d)
		}
		for _, dst := range []struct {
			name string
			ip   string
			port uint16
		}{{"reload.example.test", "", 443}, {"", "198.18.0.2", 443}, {"", "240.0.0.1", 80}, {"api.example.test", "", 80}} {
			var ip netip.Addr
			if dst.ip != "" {
				ip = netip.MustParseAddr(dst.ip)
			}
			if d := m.Decide(dst.name, ip, dst.port); d.Action != policy.Deny {
				t.Errorf("n=%d: filler allows %+v: %+v", n, dst, d)
			}
		}
	}
}

func TestYAMLNeedsRoomForTheNamedTargets(t *testing.T) {
	if _, err := YAML([]string{"a.example:443", "b.example:443"}, 1); err == nil {
		t.Error("YAML accepted n smaller than the named targets")
	}
}

func TestWriteAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	for _, content := range []string{"one\n", "two\n"} {
		if err := WriteAtomic(path, content); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Errorf("read %q, %v; want %q", got, err, content)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 (the sidecar runs as another user)", fi.Mode())
	}
}

// BenchmarkLoadAndCompile10000 is what the sidecar does on a reload of the benchmark's largest rules
// file, besides the file watch's debounce: parse 10 rule sets of 1,000 targets and compile them.
func BenchmarkLoadAndCompile10000(b *testing.B) {
	text, err := YAML([]string{"api.example.test:443"}, 10000)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sets, err := policy.LoadRuleSets(strings.NewReader(text), "bench.yaml")
		if err != nil {
			b.Fatal(err)
		}
		policy.Compile(sets)
	}
}
