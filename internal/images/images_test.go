package images

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// dockerStage is what build/Dockerfile says about one image.
type dockerStage struct {
	binary, path, user string
	entrypoint         []string
}

func parseDockerfile(t *testing.T, path string) map[string]*dockerStage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stages := map[string]*dockerStage{}
	var current *dockerStage
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			current = nil
			if len(fields) == 4 && strings.EqualFold(fields[2], "AS") && fields[3] != "build" {
				current = &dockerStage{}
				stages[fields[3]] = current
			}
		case "COPY":
			if current != nil && len(fields) == 4 && fields[1] == "--from=build" {
				current.binary, current.path = fields[2], fields[3]
			}
		case "USER":
			if current != nil {
				current.user = fields[1]
			}
		case "ENTRYPOINT":
			if current != nil {
				if err := json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(scanner.Text(), fields[0]))), &current.entrypoint); err != nil {
					t.Fatalf("ENTRYPOINT of a stage: %v", err)
				}
			}
		}
	}
	return stages
}

// TestDockerfileAgrees holds build/Dockerfile (for users with Docker) and the images built here together:
// the same targets, binaries, paths, users and entrypoints.
func TestDockerfileAgrees(t *testing.T) {
	stages := parseDockerfile(t, filepath.Join(repoRoot(t), "build", "Dockerfile"))
	if len(stages) != len(Product) {
		t.Errorf("build/Dockerfile has %d image targets, the images here are %d", len(stages), len(Product))
	}
	for _, spec := range Product {
		stage, ok := stages[spec.Name]
		if !ok {
			t.Errorf("build/Dockerfile has no target %s", spec.Name)
			continue
		}
		if want := "/out/" + filepath.Base(spec.Package); stage.binary != want {
			t.Errorf("%s: Dockerfile copies %s, the image is built from %s", spec.Name, stage.binary, spec.Package)
		}
		if stage.path != spec.BinaryPath {
			t.Errorf("%s: Dockerfile puts the binary at %s, the image at %s", spec.Name, stage.path, spec.BinaryPath)
		}
		if stage.user != spec.User {
			t.Errorf("%s: Dockerfile USER %q, the image's %q", spec.Name, stage.user, spec.User)
		}
		if !reflect.DeepEqual(stage.entrypoint, spec.Entrypoint()) {
			t.Errorf("%s: Dockerfile ENTRYPOINT %q, the image's %q", spec.Name, stage.entrypoint, spec.Entrypoint())
		}
	}
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestSameInputsSameDigest builds the images twice, in different directories, and gets the same digests and
// the same tarballs byte for byte; then pushes them to go-containerregistry's registry and reads back the
// same digests, users and entrypoints.
func TestSameInputsSameDigest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the product's binaries and images; not run with -short")
	}
	server := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer server.Close()
	u, _ := url.Parse(server.URL)
	opts := Options{Registry: u.Host + "/egress", Version: "v0.0.0-test", RepoRoot: repoRoot(t)}

	var sums [2]map[string]string
	var built [2][]Built
	for i := range 2 {
		dir := t.TempDir()
		opts.BinDir = filepath.Join(dir, "bin")
		b, err := Build(opts)
		if err != nil {
			t.Fatal(err)
		}
		paths, err := WriteArchives(filepath.Join(dir, "images"), b)
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = map[string]string{}
		for _, p := range paths {
			sums[i][filepath.Base(p)] = fileSum(t, p)
		}
		built[i] = b
	}
	if !reflect.DeepEqual(sums[0], sums[1]) {
		t.Errorf("two builds wrote different tarballs:\n%v\n%v", sums[0], sums[1])
	}
	for i := range built[0] {
		d0, _ := built[0][i].Digest()
		d1, _ := built[1][i].Digest()
		if d0 != d1 {
			t.Errorf("%s: digests %s and %s from the same inputs", built[0][i].Spec.Name, d0, d1)
		}
	}

	if err := Push(built[0]); err != nil {
		t.Fatal(err)
	}
	for _, b := range built[0] {
		img, err := remote.Image(b.Ref)
		if err != nil {
			t.Fatalf("pulling %s back: %v", b.Ref, err)
		}
		got, _ := img.Digest()
		want, _ := b.Digest()
		if got.String() != want {
			t.Errorf("%s: the registry has %s, we pushed %s", b.Ref, got, want)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Config.User != b.Spec.User || !reflect.DeepEqual(cfg.Config.Entrypoint, b.Spec.Entrypoint()) {
			t.Errorf("%s: user %q entrypoint %q", b.Ref, cfg.Config.User, cfg.Config.Entrypoint)
		}
	}
}
