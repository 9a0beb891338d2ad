package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"egress.io/egress/internal/netnstest"
	"egress.io/egress/pkg/settings"
)

// runFailing runs egress-init in the pod namespace as uid:gid with PATH set to path, and returns its
// exit code, stdout and the lines of its stderr.
func runFailing(t *testing.T, p *netnstest.Pair, uid, gid int, path string, args ...string) (int, string, []string) {
	t.Helper()
	cmd := netnstest.Command(p.Pod, uid, gid, egressInit, args...)
	cmd.Env = append(os.Environ(), "PATH="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if exitErr := (*exec.ExitError)(nil); errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out), strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
}

// checkOneLineFailure checks that egress-init failed with status 1 and ended with one error line
// containing want, after nothing but log lines.
func checkOneLineFailure(t *testing.T, code int, stderr []string, want string) {
	t.Helper()
	last := stderr[len(stderr)-1]
	if code != settings.ExitFailure || !strings.HasPrefix(last, "egress-init: ") || !strings.Contains(last, want) {
		t.Errorf("exit %d, last stderr line %q; want exit 1 and a line containing %q", code, last, want)
	}
	for _, line := range stderr[:len(stderr)-1] {
		if !strings.HasPrefix(line, "time=") {
			t.Errorf("stderr line %q is neither a log line nor the error line", line)
		}
	}
}

// tablesUntouched fails t when the pod has any egress-init chain.
func tablesUntouched(t *testing.T, p *netnstest.Pair) {
	t.Helper()
	if rules := ownRules(saveTables(t, p)); len(rules) != 0 {
		t.Errorf("a failed or dry run changed the tables: %q", rules)
	}
}

func TestFailsWithoutIptablesBinary(t *testing.T) {
	requireNamespaceTest(t)
	p := netnstest.NewPair(t)
	code, _, stderr := runFailing(t, p, 0, 0, t.TempDir())
	checkOneLineFailure(t, code, stderr, `missing iptables binary (install iptables, nf_tables backend, in the image): exec: "iptables": executable file not found in $PATH`)
	tablesUntouched(t, p)
}

func TestFailsWithoutNetAdmin(t *testing.T) {
	requireNamespaceTest(t)
	p := netnstest.NewPair(t)
	code, _, stderr := runFailing(t, p, appUID, appUID, os.Getenv("PATH"))
	checkOneLineFailure(t, code, stderr, "missing capability NET_ADMIN: ")
	tablesUntouched(t, p)
}

// fakeIptables stands in for iptables on a kernel without the REDIRECT target: it lists empty tables,
// accepts everything else, and fails the way iptables-nft does on a rule using REDIRECT.
const fakeIptables = `#!/bin/sh
for arg in "$@"; do
	case "$arg" in
	--version) echo "iptables v1.8.9 (nf_tables)"; exit 0 ;;
	REDIRECT)
		echo "Warning: Extension REDIRECT revision 0 not supported, missing kernel module?" >&2
		echo "iptables v1.8.9 (nf_tables): RULE_APPEND failed (No such file or directory): rule in chain EGRESS_OUTPUT" >&2
		exit 4 ;;
	esac
done
case " $* " in *" -S "*) echo "-P OUTPUT ACCEPT" ;; esac
exit 0
`

func TestFailsWithoutKernelSupport(t *testing.T) {
	requireNamespaceTest(t)
	p := netnstest.NewPair(t)
	dir := t.TempDir()
	for _, name := range []string{"iptables", "ip6tables"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(fakeIptables), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	code, _, stderr := runFailing(t, p, 0, 0, dir)
	checkOneLineFailure(t, code, stderr, `installing interception: missing kernel support for iptables extension REDIRECT: adding rule "-p udp -m udp --dport 53`)
	if last := stderr[len(stderr)-1]; !strings.Contains(last, "missing kernel module?; iptables v1.8.9 (nf_tables): RULE_APPEND failed") {
		t.Errorf("the error line does not carry iptables' own output: %q", last)
	}
	tablesUntouched(t, p)
}

func TestDryRunIsUnprivilegedAndTouchesNothing(t *testing.T) {
	requireNamespaceTest(t)
	p := netnstest.NewPair(t)
	// No iptables in PATH and no capabilities: --dry-run needs neither.
	code, out, stderr := runFailing(t, p, appUID, appUID, t.TempDir(), "--dry-run")
	if code != settings.ExitOK {
		t.Fatalf("--dry-run as %d exited %d: %q", appUID, code, stderr)
	}
	golden, err := os.ReadFile("../../pkg/redirect/testdata/default.golden")
	if err != nil {
		t.Fatal(err)
	}
	// The golden's first two lines name its inputs; the rest is the plan for a pod with IPv6, as here.
	want := strings.SplitN(string(golden), "\n", 3)[2]
	if out != want {
		t.Errorf("--dry-run printed something else than the default golden plan:\n%s", out)
	}
	tablesUntouched(t, p)
}
