package e2e

import (
	"path/filepath"
	"runtime"
)

// repoRoot returns the repository's root directory (for manifests/), from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
