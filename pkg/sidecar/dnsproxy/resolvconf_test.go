package dnsproxy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadResolvConf(t *testing.T) {
	path := writeFile(t, `# Kubernetes-managed
search shop.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
; comment
nameserver   fd00:10:96::a
nameserver fe80::1%eth0
nameserver ::ffff:10.0.0.2
nameserver not-an-ip
nameserver
options ndots:5 edns0
`)
	got, err := ReadResolvConf(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.96.0.10:53", "[fd00:10:96::a]:53", "[fe80::1%eth0]:53", "10.0.0.2:53"}
	if !slices.Equal(got, want) {
		t.Errorf("ReadResolvConf = %q, want %q", got, want)
	}
}

func TestReadResolvConfErrors(t *testing.T) {
	if _, err := ReadResolvConf(writeFile(t, "search example.com\noptions ndots:2\n")); err == nil || !strings.Contains(err.Error(), "no nameserver") {
		t.Errorf("file without nameserver: err = %v", err)
	}
	if _, err := ReadResolvConf(filepath.Join(t.TempDir(), "missing")); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}
