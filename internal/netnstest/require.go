package netnstest

import (
	"os"
	"os/exec"
	"testing"
)

// SkipIfShort skips t under `go test -short` (make unit), the only reason a namespace test may skip.
func SkipIfShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("network-namespace test: skipped with -short")
	}
}

// RequireRoot fails t, loudly, unless the test runs as root.
func RequireRoot(t T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("network-namespace test needs root (euid is %d): run it as root, as CI does, or skip it with -short", os.Geteuid())
	}
}

// RequireCommands fails t naming every command that is not in PATH; hack/install-deps.sh installs them.
func RequireCommands(t T, names ...string) {
	t.Helper()
	var missing []string
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("network-namespace test needs %q in PATH (run hack/install-deps.sh)", missing)
	}
}
