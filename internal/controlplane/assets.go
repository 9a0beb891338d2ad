package controlplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// EnvAssets is the standard envtest variable naming the directory that holds kube-apiserver, etcd and kubectl.
const EnvAssets = "KUBEBUILDER_ASSETS"

// binaries are the programs a ControlPlane runs from the assets directory.
var binaries = []string{"kube-apiserver", "etcd", "kubectl"}

// AssetsDir returns KUBEBUILDER_ASSETS after checking that it names a directory holding every binary. The
// error says what is missing and how to get it.
func AssetsDir() (string, error) {
	dir := os.Getenv(EnvAssets)
	if dir == "" {
		return "", errors.New("KUBEBUILDER_ASSETS is not set: run `make test` or " +
			"`export KUBEBUILDER_ASSETS=$(hack/build-controlplane.sh)` (from the repository root)")
	}
	var missing []string
	for _, name := range binaries {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("KUBEBUILDER_ASSETS=%s has no executable %v: rebuild with "+
			"`export KUBEBUILDER_ASSETS=$(hack/build-controlplane.sh)` (from the repository root)", dir, missing)
	}
	return dir, nil
}
