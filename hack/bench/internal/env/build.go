package env

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"egress.io/egress/internal/images"
)

// Packages the benchmark builds, by the name of the binary.
var Packages = map[string]string{
	"egress-init":    "egress.io/egress/cmd/egress-init",
	"egress-sidecar": "egress.io/egress/cmd/egress-sidecar",
	"testdns":        "egress.io/egress/internal/dnstest/cmd/testdns",
	"openloop":       "egress.io/egress/hack/bench/cmd/openloop",
	"holdconns":      "egress.io/egress/hack/bench/cmd/holdconns",
	"flipwait":       "egress.io/egress/hack/bench/cmd/flipwait",
	"sidecarprof":    "egress.io/egress/hack/bench/cmd/sidecarprof",
}

// build compiles the packages into dir in one `go build` (the go command builds them in parallel), and
// returns the path of each binary by name. dir must be readable by every UID, so the app and the
// sidecar's UID can run them.
func build(dir string, names ...string) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("building binaries: %w", err)
	}
	var pkgs []string
	bins := map[string]string{}
	for _, name := range names {
		pkg, ok := Packages[name]
		if !ok {
			return nil, fmt.Errorf("building binaries: unknown binary %q", name)
		}
		pkgs = append(pkgs, pkg)
		bins[name] = filepath.Join(dir, path.Base(pkg))
	}
	// Built as the images build the product, so the sidecar measured is the one that ships (static and
	// stripped: about 2 MB less resident than a default build).
	cmd := images.GoBuild(dir, "bench", pkgs...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return bins, nil
}
