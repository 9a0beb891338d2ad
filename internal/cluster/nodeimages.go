package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"egress.io/egress/internal/ociimage"
)

// Images of the node itself, imported before the kubelet starts.
const (
	pauseRef   = "localhost/egress-node/pause:1"
	corednsRef = "localhost/egress-node/coredns:1"
)

// buildNodeImages builds the sandbox (pause) image from internal/cluster/pause and the CoreDNS image from the
// assets' coredns, as OCI tarballs in the state directory, and returns their paths.
func buildNodeImages(l layout, assets string) ([]string, error) {
	dir := l.path("images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	pause := filepath.Join(dir, "pause")
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", pause, "./pause")
	cmd.Dir = filepath.Dir(file)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the pause binary: %w: %s", err, out)
	}
	var paths []string
	for _, img := range []struct{ ref, binary, path, user string }{
		{pauseRef, pause, "/pause", "65535:65535"},
		{corednsRef, filepath.Join(assets, "coredns"), "/coredns", "65532:65532"},
	} {
		real, err := filepath.EvalSymlinks(img.binary)
		if err != nil {
			return nil, err
		}
		bin, err := ociimage.File(img.path, real)
		if err != nil {
			return nil, err
		}
		built, err := ociimage.NewImage(ociimage.Config{Entrypoint: []string{img.path}, User: img.user},
			ociimage.Layer{Entries: []ociimage.Entry{bin, ociimage.Dir("/tmp", 0o1777, 0, 0)}, CreatedBy: "egress-node: " + img.path})
		if err != nil {
			return nil, err
		}
		ref, err := ociimage.ParseRef(img.ref)
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(filepath.Base(img.path), "/") + ".tar"
		p := filepath.Join(dir, name)
		if err := ociimage.WriteArchive(p, ociimage.Named{Ref: ref, Image: built}); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
