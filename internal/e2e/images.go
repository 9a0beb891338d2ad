package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"egress.io/egress/internal/images"
	"egress.io/egress/internal/ociimage"
)

// Image references on the node.
const (
	Version = "dev"
	// SidecarWorldCARef is the product's sidecar image plus the world's CA (see the package comment).
	SidecarWorldCARef = images.DefaultRegistry + "/egress-sidecar:" + Version + "-world-ca"
	AppRef            = "localhost/egress-e2e/app:1"
	PrometheusRef     = "localhost/egress-e2e/prometheus:1"
	worldCAInImage    = "/etc/egress/world-ca.pem"
)

// ProductRef is the reference of a product image (egress-webhook, egress-sidecar, egress-init).
func ProductRef(name string) string { return images.DefaultRegistry + "/" + name + ":" + Version }

// RepoRoot is the repository's root directory (manifests/, the Go module).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// BuildImages builds the product's images, the sidecar image with the world's CA, the app image and the
// Prometheus image as OCI tarballs in dir, and returns their paths.
func BuildImages(dir, worldCA string) ([]string, error) {
	built, err := images.Build(images.Options{Version: Version, RepoRoot: RepoRoot(), BinDir: filepath.Join(dir, "bin")})
	if err != nil {
		return nil, err
	}
	paths, err := images.WriteArchives(dir, built)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(worldCA)
	if err != nil {
		return nil, err
	}
	var sidecar ociimage.Named
	for _, b := range built {
		if b.Spec.Name == "egress-sidecar" {
			img, err := ociimage.Append(b.Image, ociimage.Config{Env: []string{"EGRESS_CA_BUNDLE=" + worldCAInImage}},
				ociimage.Layer{Entries: []ociimage.Entry{ociimage.Content(worldCAInImage, ca, 0o644)}, CreatedBy: "e2e: the world's CA"})
			if err != nil {
				return nil, err
			}
			sidecar.Image = img
		}
	}
	if sidecar.Ref, err = ociimage.ParseRef(SidecarWorldCARef); err != nil {
		return nil, err
	}
	extra := []struct {
		file string
		make func() (ociimage.Named, error)
	}{
		{"sidecar-world-ca.tar", func() (ociimage.Named, error) { return sidecar, nil }},
		{"app.tar", func() (ociimage.Named, error) { return appImage(ca) }},
		{"prometheus.tar", prometheusImage},
	}
	for _, e := range extra {
		named, err := e.make()
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", e.file, err)
		}
		p := filepath.Join(dir, e.file)
		if err := ociimage.WriteArchive(p, named); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

const appPasswd = `root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/tmp:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
`

// appImage is "the app": Debian's curl, a shell and sleep, trusting only the world's CA.
func appImage(worldCA []byte) (ociimage.Named, error) {
	files, err := ociimage.HostFiles("/usr/bin/curl", "/bin/sh", "/bin/sleep")
	if err != nil {
		return ociimage.Named{}, err
	}
	files = append(files,
		ociimage.Content("/etc/ssl/certs/ca-certificates.crt", worldCA, 0o644),
		ociimage.Content("/etc/passwd", []byte(appPasswd), 0o644),
		ociimage.Dir("/tmp", 0o1777, 0, 0),
	)
	img, err := ociimage.NewImage(ociimage.Config{User: "1000:1000"}, ociimage.Layer{Entries: files, CreatedBy: "e2e: curl, sh, sleep"})
	if err != nil {
		return ociimage.Named{}, err
	}
	ref, err := ociimage.ParseRef(AppRef)
	return ociimage.Named{Ref: ref, Image: img}, err
}

// prometheusImage is Debian's Prometheus server.
func prometheusImage() (ociimage.Named, error) {
	files, err := ociimage.HostFiles("/usr/bin/prometheus")
	if err != nil {
		return ociimage.Named{}, err
	}
	files = append(files,
		ociimage.Content("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/prometheus:/bin/sh\n"), 0o644),
		ociimage.Dir("/prometheus", 0o755, 65534, 65534),
		ociimage.Dir("/tmp", 0o1777, 0, 0),
	)
	img, err := ociimage.NewImage(ociimage.Config{Entrypoint: []string{"/usr/bin/prometheus"}, User: "65534:65534", WorkingDir: "/prometheus"},
		ociimage.Layer{Entries: files, CreatedBy: "e2e: Debian's prometheus"})
	if err != nil {
		return ociimage.Named{}, err
	}
	ref, err := ociimage.ParseRef(PrometheusRef)
	return ociimage.Named{Ref: ref, Image: img}, err
}
