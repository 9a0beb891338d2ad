package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
)

// BuildBinary builds the Go package pkg (an import path, e.g. "egress.io/egress/cmd/egress-init") into a
// new directory that every user may read and execute, so the binary can run as any UID (Run, Command).
// It returns the binary's path and a function that removes the directory. TestMain can call it, as it
// needs no *testing.T.
func BuildBinary(pkg string) (binary string, remove func(), err error) {
	dir, err := TempDir("bin-")
	if err != nil {
		return "", nil, fmt.Errorf("building %s: %w", pkg, err)
	}
	remove = func() { os.RemoveAll(dir) }
	if err := os.Chmod(dir, 0o755); err != nil {
		remove()
		return "", nil, fmt.Errorf("building %s: %w", pkg, err)
	}
	binary = filepath.Join(dir, path.Base(pkg))
	out, err := exec.Command("go", "build", "-o", binary, pkg).CombinedOutput()
	if err != nil {
		remove()
		return "", nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return binary, remove, nil
}

// BuildBinaries builds each package of binaries into a temporary file and sets its string to the path; the
// returned func removes them all. On an error nothing is left behind.
func BuildBinaries(binaries map[string]*string) (remove func(), err error) {
	var removes []func()
	remove = func() {
		for _, r := range removes {
			r()
		}
	}
	for pkg, dst := range binaries {
		bin, r, err := BuildBinary(pkg)
		if err != nil {
			remove()
			return nil, err
		}
		*dst = bin
		removes = append(removes, r)
	}
	return remove, nil
}
